"""The Textual side of autoresearch-tui, in layers that import downwards only.

| module | holds | imports from this package |
| :- | :- | :- |
| `state` | `SessionView` (what the screens show), `LoopSource` (what the App drives) | nothing |
| `activity` | `ActivityBuffer`: high-rate lines from the loop thread to the UI | nothing |
| `bridge` | engine events -> typed, past-tense Messages (`EventBridge`) | `activity` |
| `commands` | the command palette's `Provider` | nothing |
| `app` | `AutoresearchApp`: the state, the messages, the controller | all, `app.screens` |
| `launch` | the entry point (`run_tui`) | `app` |

Screens (`app.screens`) import `state` and never the App. This package imports nothing
eagerly: `import app.tui.state` does not load the App.
"""
