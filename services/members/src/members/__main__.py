from members.main import cli

cli()
