"""One module per sub-command: parse, call one library function, report (~20 lines a body).

The pattern (see ``compare.py``, ``validate.py``, ``inverse_dynamics.py``)::

    @click.command()
    @click.argument("source", type=EXISTING_FILE)       # kintwin_cli.options: shared options
    @model_option()
    @output_option("The output .sto.")
    @json_option("a summary")
    @force_option()
    def thing(source, model_path, output, json_target, force):
        \"\"\"One line. \\b Examples: ...\"\"\"
        from converters.thing import ThingConfig, run_thing    # heavy imports inside the body

        summary = JsonSummary(json_target, force)   # --json FILE checked before any work
        done = run_thing(ThingConfig(source, model_path, output, force=force))
        result(format_thing(done))                  # stdout, or stderr under --json
        summary.emit(done.as_dict())                # --json: one object on stdout

The library function checks its outputs (``converters.files.check_writable``) before any work,
writes them with ``atomic_output`` and raises ``KintwinError`` on bad input; the root group
(``kintwin_cli.main``) turns that, and click's usage errors, into one line and exit code 2.
Register the command in ``kintwin_cli.main.COMMANDS``.
"""
