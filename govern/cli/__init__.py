"""The `govern` command line: set up, serve, apply configuration, and operate the engine.

- `govern.cli.root`: the root command group and the commands of the engine itself (init, apply, db, audit, export,
  import, serve); it adds every capability's command groups.
- `govern.cli.auth`, `govern.cli.measurement`: the engine's other command groups (sign-in and tokens; KPIs and scoring).
- `govern.cli.support`: what every command uses (runtime, `--as`, error translation); capabilities import it for their
  own command groups.

This package module imports none of them, so that a capability importing `govern.cli.support` does not load the whole
command tree (which imports that capability).
"""


def main() -> None:
    """The `govern` console script."""
    # Imported on call: govern.cli.root imports every capability's commands, and each of those imports
    # govern.cli.support, which runs this module first (cycle govern.cli → capabilities → govern.cli.support).
    from govern.cli.root import main as run

    run()
