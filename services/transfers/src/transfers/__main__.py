from transfers.main import cli

cli()
