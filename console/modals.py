"""Dialogs: confirm, note (optional or required), fuzzy picker, and `?` help.

Each is a ModalScreen that dismisses with its answer (None when cancelled with Esc), so the
caller's callback decides; the live refresh pauses while one is open.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from console.actions import acts_for, display_key


class _Dialog(ModalScreen):
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical {
        width: 70; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    _Dialog .title { text-style: bold; margin-bottom: 1; }
    _Dialog .error { color: $error; height: auto; }
    _Dialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    _Dialog Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog_cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(_Dialog):
    """Yes/no with the consequences spelled out (counts, totals)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes", id="confirm_yes"),
                Binding("n", "answer(False)", "No", id="confirm_no")]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text, self.body, self.yes = title, body, yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Static(self.body, markup=False)
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class NoteModal(_Dialog):
    """A one-line note; when required, an empty note is refused here (and by operations)."""

    def __init__(self, title: str, body: str = "", *, required: bool, placeholder: str = "",
                 steady: bool = False) -> None:
        super().__init__()
        self.title_text, self.body, self.required = title, body, required
        self.placeholder = placeholder or ("note (required)" if required else "note (optional)")
        self.steady = steady

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            if self.body:
                yield Static(self.body, markup=False)
            yield Input(placeholder=self.placeholder, id="note")
            yield Static("", classes="error", id="why")
            yield Static("enter: confirm   esc: cancel", classes="hint")

    def on_mount(self) -> None:
        note = self.query_one("#note", Input)
        note.cursor_blink = not self.steady
        note.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#why", Static).update("A note is required here.")
            return
        self.dismiss(text)


class PickerModal(_Dialog):
    """Type to filter a list with fuzzy matching; enter picks the highlighted option."""

    DEFAULT_CSS = """
    PickerModal OptionList { height: auto; max-height: 12; }
    """

    def __init__(self, title: str, body: str, options: list[tuple[str, str]],
                 steady: bool = False) -> None:
        super().__init__()
        self.title_text, self.body, self.options = title, body, options  # (value, label)
        self.steady = steady

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Static(self.body, markup=False)
            yield Input(placeholder="type to filter", id="filter")
            yield OptionList(*self._matches(""), id="choices")
            yield Static("up/down: choose   enter: pick   esc: cancel", classes="hint")

    def on_mount(self) -> None:
        box = self.query_one("#filter", Input)
        box.cursor_blink = not self.steady
        box.focus()
        self.query_one(OptionList).highlighted = 0 if self.options else None

    def _matches(self, text: str) -> list[Option]:
        if not text:
            return [Option(label, id=value) for value, label in self.options]
        matcher = Matcher(text)
        scored = [(matcher.match(label), value, label) for value, label in self.options]
        scored = sorted([s for s in scored if s[0] > 0], key=lambda s: -s[0])
        return [Option(matcher.highlight(label), id=value) for _, value, label in scored]

    def on_input_changed(self, event: Input.Changed) -> None:
        choices = self.query_one(OptionList)
        choices.clear_options()
        choices.add_options(self._matches(event.value))
        choices.highlighted = 0 if choices.option_count else None

    def on_key(self, event) -> None:
        if event.key in ("up", "down"):
            choices = self.query_one(OptionList)
            if event.key == "down":
                choices.action_cursor_down()
            else:
                choices.action_cursor_up()
            event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        choices = self.query_one(OptionList)
        if choices.highlighted is None:
            return
        self.dismiss(choices.get_option_at_index(choices.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class HelpModal(_Dialog):
    """Keys for the current screen and the global ones, from the action registry, with the
    keys as rebound by the config."""

    DEFAULT_CSS = """
    HelpModal > Vertical { width: 90; }
    HelpModal DataTable { height: auto; max-height: 24; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "cancel", "Close", id="help_close")]

    def __init__(self, scope: str, title: str, keymap: dict[str, str], read_only: bool,
                 may: dict[str, bool]) -> None:
        super().__init__()
        self.scope, self.title_text, self.keymap = scope, title, keymap
        self.read_only, self.may = read_only, may

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Keys: {self.title_text}", classes="title")
            yield DataTable(cursor_type="none", zebra_stripes=True, id="keys")
            yield Static("Ctrl+P: command palette (go to return …, queues, actions).  "
                         "Rebind any key in [console.keys] by its id.", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("key", width=8)
        table.add_column("does", width=52)
        table.add_column("id", width=16)
        for act in acts_for(self.scope) + acts_for("app"):
            note = ""
            if act.permission and self.read_only:
                note = " (hidden: read-only)"
            elif act.permission and not self.may.get(act.permission, True):
                note = " (your role may not)"
            key = display_key(self.keymap.get(act.id, act.key))
            table.add_row(key, Text(act.help + note), act.id)
