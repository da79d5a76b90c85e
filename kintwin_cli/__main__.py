from kintwin_cli.main import cli

cli(prog_name="kintwin")
