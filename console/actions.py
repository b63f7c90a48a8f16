"""The one action registry: key bindings, footer, `?` help and the command palette all come
from ACTIONS. Every binding has an id, so `[console.keys]` in the config rebinds it
(App.set_keymap), e.g. `approve = "y"`.

`permission` names the operation an action performs: in read-only mode those actions are
hidden and refused; for roles, the operations layer refuses (and audits) whatever is tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Act:
    id: str  # binding id, used by [console.keys]
    key: str  # default key(s), comma-separated
    action: str  # Textual action string run on the screen (or the app for scope "app")
    label: str  # footer and palette text
    scope: str  # "app" or a screen name
    permission: str | None = None  # operation performed (hidden in read-only mode)
    show: bool = True  # shown in the footer
    help: str = ""
    palette: bool = True
    # Run by the app before the focused widget sees the key, so the keys typed right after
    # it already go where it moved the focus (not to the table, where digits switch screens).
    priority: bool = False


SCREENS: list[tuple[str, str, str]] = [
    # mode name, number key, title
    ("home", "1", "Home"),
    ("returns", "2", "Returns"),
    ("holds", "3", "Held refunds"),
    ("reasons", "4", "Unknown reasons"),
    ("failures", "5", "Failures"),
    ("exceptions", "6", "Exceptions"),
    ("health", "7", "Connector health"),
    ("audit", "8", "Audit log"),
    ("recon", "9", "Reconciliation"),
]
SCREEN_TITLES = {name: title for name, _, title in SCREENS} | {
    "search": "Search", "detail": "Return"}

ACTIONS: list[Act] = [
    *[Act(f"go_{name}", key, f"app.go('{name}')", title, "app", show=False,
          help=f"Switch to {title}") for name, key, title in SCREENS],
    Act("search", "slash", "app.search", "Search", "app",
        help="Find a return by id, RMA, order number, email or SKU"),
    Act("refresh", "r", "app.refresh_now", "Refresh", "app", help="Reload this screen now"),
    Act("toggle_live", "P", "app.toggle_live", "Pause live", "app", show=False,
        help="Pause or resume the automatic refresh"),
    Act("help", "question_mark", "app.help", "Help", "app", help="Keys for this screen"),
    Act("back", "escape", "app.back", "Back", "app", show=False, palette=False,
        help="Back to the previous screen"),
    Act("quit", "q", "app.quit", "Quit", "app", show=False, help="Leave the console"),
    # returns list
    Act("older_page", "n", "older", "Older", "returns", help="Next page (older returns)"),
    Act("newer_page", "p", "newer", "Newer", "returns", help="Previous page (newer returns)"),
    Act("first_page", "g", "first", "First", "returns", show=False, help="Jump to the newest"),
    Act("last_page", "G", "last", "End", "returns", help="Jump to the end (oldest returns)"),
    Act("filter_state", "f", "filter_state", "State", "returns",
        help="Show only one state (cycles through the states)"),
    Act("open_return", "enter", "open", "Open", "returns", show=False, palette=False,
        help="Open the highlighted return"),
    # search
    Act("search_open", "enter", "open", "Open", "search", show=False, palette=False,
        help="Open the highlighted result"),
    # return detail
    Act("copy_id", "c", "copy('return_id')", "Copy id", "detail",
        help="Copy the return id to the clipboard (OSC 52)"),
    Act("copy_order", "o", "copy('order')", "Copy order", "detail",
        help="Copy the order number"),
    Act("copy_rma", "m", "copy('rma')", "Copy RMA", "detail", help="Copy the platform RMA"),
    # held refunds
    Act("approve", "a", "approve", "Approve", "holds", "approve",
        help="Approve the highlighted refund (optional note)"),
    Act("reject", "x", "reject", "Reject", "holds", "reject",
        help="Reject the highlighted refund (a note is required)"),
    Act("mark", "space", "mark", "Mark", "holds", "approve", palette=False,
        help="Mark or unmark a refund for bulk approval"),
    Act("bulk_approve", "A", "bulk_approve", "Approve marked", "holds", "approve",
        help="Approve every marked refund (all listed if none marked), after confirming "
             "the count and total"),
    Act("holds_open", "enter", "open", "Open", "holds", show=False, palette=False,
        help="Open the highlighted return"),
    # unknown reasons
    Act("reclassify", "c", "reclassify", "Reclassify", "reasons", "reclassify",
        help="Map the raw reason to a master code (fuzzy picker); releases its returns"),
    Act("reasons_open", "enter", "open", "Open example", "reasons", show=False, palette=False,
        help="Open the first example return"),
    # failures
    Act("retry", "t", "retry", "Retry", "failures", "retry",
        help="Retry the highlighted action"),
    Act("retry_group", "T", "retry_group", "Retry group", "failures", "retry",
        help="Retry every action in the highlighted group (after confirming the count)"),
    Act("switch_pane", "tab", "switch_pane", "Pane", "failures", show=False, palette=False,
        help="Move between groups and their actions"),
    # exceptions
    Act("resolve", "v", "resolve", "Resolve", "exceptions", "resolve",
        help="Resolve the highlighted exception with a note"),
    Act("prev_owner", "left_square_bracket", "owner(-1)", "Prev team", "exceptions",
        help="Previous owner team tab"),
    Act("next_owner", "right_square_bracket", "owner(1)", "Next team", "exceptions",
        help="Next owner team tab"),
    Act("exceptions_open", "enter", "open", "Open", "exceptions", show=False, palette=False,
        help="Open the exception's return"),
    # connector health
    Act("pause_job", "p", "pause_job", "Pause/resume", "health", "pause",
        help="Pause or resume the highlighted job"),
    Act("run_job", "n", "run_job", "Run now", "health", "run_job",
        help="Run the highlighted job now"),
    # audit
    Act("audit_older", "n", "older", "Older", "audit", help="Older entries"),
    Act("audit_first", "g", "first", "Newest", "audit", help="Back to the newest entries"),
    # reconciliation
    Act("recon_run", "R", "run", "Run", "recon",
        help="Reconcile the period now: refunds vs credit notes vs stock, read from commerce "
             "and the ERP"),
    Act("recon_mismatches", "m", "toggle_mismatches", "Mismatches", "recon",
        help="Show only the returns that do not match (or all again)"),
    Act("recon_export", "e", "export", "Export CSV", "recon",
        help="Write the rows shown to a CSV file (its path is shown)"),
    Act("recon_dates", "d", "edit_dates", "Dates", "recon",
        help="Edit the from/to dates (YYYY-MM-DD); enter runs", priority=True),
    Act("recon_next_box", "tab", "app.focus_next", "Next box", "recon", show=False,
        palette=False, help="From date, to date, then the rows", priority=True),
    Act("recon_previous_box", "shift+tab", "app.focus_previous", "Previous box", "recon",
        show=False, palette=False, help="Back through the rows and the dates", priority=True),
    Act("recon_earlier", "left_square_bracket", "shift(-1)", "Earlier", "recon", show=False,
        help="The period before this one, and run"),
    Act("recon_later", "right_square_bracket", "shift(1)", "Later", "recon", show=False,
        help="The period after this one, and run"),
    Act("recon_open", "enter", "open", "Open", "recon", show=False, palette=False,
        help="Open the highlighted return's timeline"),
]

BY_ID = {a.id: a for a in ACTIONS}


def acts_for(scope: str) -> list[Act]:
    return [a for a in ACTIONS if a.scope == scope]


def bindings_for(scope: str) -> list[Binding]:
    out = []
    for a in acts_for(scope):
        action = a.action.removeprefix("app.") if scope == "app" else a.action
        out.append(Binding(a.key, action, a.label, show=a.show, id=a.id, priority=a.priority))
    return out


def permission_of(scope: str, action_name: str) -> str | None:
    """The operation behind a screen action name (as Textual passes it to check_action)."""
    for a in acts_for(scope):
        if a.action.split("(")[0] == action_name and a.permission:
            return a.permission
    return None


def display_key(key: str) -> str:
    names = {"slash": "/", "question_mark": "?", "escape": "esc", "space": "space",
             "left_square_bracket": "[", "right_square_bracket": "]", "enter": "enter",
             "tab": "tab"}
    return ",".join(names.get(k.strip(), k.strip()) for k in key.split(","))
