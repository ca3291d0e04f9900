/*
 * Drag-and-drop ordering for adminsortable2 change lists rendered by Unfold.
 *
 * Unfold renders every change list row in a <tbody> of its own, so the rows are sorted as
 * <tbody> elements, with the Alpine sort plugin (SortableJS) that Unfold already loads for its
 * own sortable lists. The new order is saved through adminsortable2's endpoint with its
 * payload, {"updatedItems": [[pk, order], ...]}.
 *
 * Load it as a classic script in <head>: it has to hear "alpine:init", which Alpine (deferred)
 * dispatches just before it initialises the page, so the x-sort attributes set here are seen.
 */
"use strict";
{
    const updateUrl = document.currentScript.dataset.updateUrl;
    // Saves run one after another, so a quick second drag never lands before the first.
    let saving = Promise.resolve();

    document.addEventListener("alpine:init", () => {
        const table = document.getElementById("result_list");
        // adminsortable2 renders `.handle` only while the list is ordered by its sort field.
        const handles = table ? table.querySelectorAll(".drag.handle") : [];
        if (handles.length === 0) {
            return;
        }
        // The page's order values, top to bottom. After a drop they are dealt out again in the
        // new row order: the page keeps its own positions, whatever the gaps or direction.
        const slots = Array.from(handles, (handle) => handle.getAttribute("order"));

        for (const handle of handles) {
            handle.setAttribute("x-sort:handle", "");
            handle.closest("tbody").setAttribute("x-sort:item", "");
        }
        table.setAttribute("x-sort:config", "{draggable: 'tbody'}");
        table.setAttribute("x-sort.ghost", "");
        // SortableJS dispatches "update" on the table when a row changed place.
        table.addEventListener("update", () => {
            saving = saving.then(() => saveOrder(table, slots)).catch((error) => {
                // Say why, then show the order that is really stored.
                window.alert(error.message);
                window.location.reload();
            });
        });
    });

    async function saveOrder(table, slots) {
        const updatedItems = [];
        table.querySelectorAll(".drag.handle").forEach((handle, index) => {
            if (handle.getAttribute("order") !== slots[index]) {
                handle.setAttribute("order", slots[index]);
                updatedItems.push([handle.getAttribute("pk"), Number(slots[index])]);
            }
        });
        const csrfToken = table.closest("form").elements.csrfmiddlewaretoken.value;
        const response = await fetch(updateUrl, {
            method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken},
            body: JSON.stringify({updatedItems}),
        });
        if (!response.ok) {
            throw new Error(await response.text());
        }
    }
}
