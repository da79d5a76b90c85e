from kintwin_cli.main import cli

cli()
