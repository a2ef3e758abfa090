from fees.main import cli

cli()
