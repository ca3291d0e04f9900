// Pipeline board: drag a card onto another column to move the deal without reloading.
// A drop on a lost column first asks why the deal was lost (a dialog), then posts the reason
// with the move. Without JavaScript each card keeps its small form, which posts to the same
// endpoint (with a reason to choose too).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const board = document.getElementById("pipeline-board");
  if (!board) {
    return;
  }
  const status = document.getElementById("board-status");
  const query = board.dataset.query;
  const reasonDialog = document.getElementById("lost-reason-dialog");
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

  // Resolves with the chosen reason's id ("" for none, when none is required), or null when
  // the user cancels (the Cancel button or Escape).
  const askLostReason = (card) =>
    new Promise((resolve) => {
      const form = reasonDialog.querySelector("form");
      form.reset();
      reasonDialog.returnValue = "";
      reasonDialog.querySelector("[data-lost-deal]").textContent =
        card.querySelector("[data-title]").textContent;
      reasonDialog.addEventListener(
        "close",
        () => {
          const choice = form.elements.lost_reason.value;
          resolve(reasonDialog.returnValue === "move" ? choice : null);
        },
        { once: true },
      );
      reasonDialog.showModal();
      form.elements.lost_reason.focus();
    });

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
      const fields = { stage: column.dataset.stage };
      if (column.dataset.outcome === "lost" && reasonDialog) {
        const reason = await askLostReason(card);
        if (reason === null) {
          card.classList.remove("opacity-50");
          say(reasonDialog.dataset.cancelled, false);
          return;
        }
        if (reason) {
          fields.lost_reason = reason;
        }
      }
      const url = card.dataset.moveUrl + (query ? `?${query}` : "");
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": board.dataset.csrf },
          body: new URLSearchParams(fields),
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
      card.querySelector("[data-stale]").innerHTML = payload.deal.stale;
      card.querySelector("[data-lost-reason]").innerHTML = payload.deal.lost_reason;
      updateTotals(payload.columns);
      say(payload.message, false);
    });
  });
});
