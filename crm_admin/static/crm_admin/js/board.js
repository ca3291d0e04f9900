// Pipeline board: drag a card onto another column to move the deal without reloading.
// Without JavaScript each card keeps its small form, which posts to the same endpoint.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const board = document.getElementById("pipeline-board");
  if (!board) {
    return;
  }
  const status = document.getElementById("board-status");
  const query = board.dataset.query;
  let dragged = null;

  // Forms are the no-JavaScript fallback; drag and drop replaces them.
  board.querySelectorAll("[data-move-form]").forEach((form) => form.remove());

  const say = (text, isError) => {
    status.textContent = text;
    status.classList.toggle("text-red-600", Boolean(isError));
  };

  const updateTotals = (columns) => {
    board.querySelectorAll("[data-column]").forEach((column) => {
      const totals = columns[column.dataset.stage];
      if (!totals) {
        return;
      }
      column.querySelector("[data-count]").textContent = totals.count;
      column.querySelector("[data-value]").textContent = totals.value;
      column.querySelector("[data-weighted]").textContent = totals.weighted;
    });
  };

  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest("[data-card]");
    if (!card) {
      return;
    }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.deal);
    card.classList.add("opacity-50");
  });

  board.addEventListener("dragend", () => {
    if (dragged) {
      dragged.classList.remove("opacity-50");
    }
  });

  board.querySelectorAll("[data-column]").forEach((column) => {
    column.addEventListener("dragover", (event) => {
      if (dragged) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
      }
    });

    column.addEventListener("drop", async (event) => {
      event.preventDefault();
      const card = dragged;
      dragged = null;
      if (!card || card.closest("[data-column]") === column) {
        return;
      }
      const url = card.dataset.moveUrl + (query ? `?${query}` : "");
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": board.dataset.csrf },
          body: new URLSearchParams({ stage: column.dataset.stage }),
        });
      } catch (error) {
        say(`The deal could not be moved: ${error}`, true);
        return;
      }
      const payload = await response.json().catch(() => ({}));
      if (!response.ok) {
        say(payload.error || `The deal could not be moved (${response.status}).`, true);
        return;
      }
      card.classList.remove("opacity-50");
      column.querySelector("[data-cards]").prepend(card);
      card.querySelector("[data-probability]").textContent = `${payload.deal.probability}%`;
      // Server-escaped markup: a closing clears the step, an open deal without one is marked.
      card.querySelector("[data-next-step]").innerHTML = payload.deal.next_step;
      updateTotals(payload.columns);
      say(payload.message, false);
    });
  });
});
