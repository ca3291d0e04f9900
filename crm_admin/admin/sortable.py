"""The action bar of the lists sorted by drag and drop (adminsortable2): pipeline stages and
lost reasons."""

from django import forms
from unfold.forms import ActionForm
from unfold.widgets import BASE_CLASSES


def move_page_input(*, shown_for):
    """A small number input styled like Unfold's action select, shown for the given actions."""
    return forms.NumberInput(
        attrs={
            "class": " ".join(
                [
                    *BASE_CLASSES,
                    "w-24",
                    "group-[.changelist-actions]:!bg-white/20",
                    "group-[.changelist-actions]:px-2",
                    "group-[.changelist-actions]:py-1",
                    "group-[.changelist-actions]:!text-current",
                    "group-[.changelist-actions]:!outline-primary-400",
                ]
            ),
            "x-show": f"{list(shown_for)!r}.includes(action)",
        }
    )


class SortableActionForm(ActionForm):
    """Unfold's action bar plus the inputs of adminsortable2's move-to-page actions.

    adminsortable2 would swap in a form built on Django's plain one, whose select does not
    drive Unfold's Run button. Each input shows only for the actions that read it, through
    the `action` Alpine state of Unfold's action bar.
    """

    step = forms.IntegerField(
        required=False,
        initial=1,
        label=False,
        widget=move_page_input(shown_for=["move_to_back_page", "move_to_forward_page"]),
    )
    page = forms.IntegerField(
        required=False, label=False, widget=move_page_input(shown_for=["move_to_exact_page"])
    )
