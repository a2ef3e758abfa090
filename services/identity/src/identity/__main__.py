from identity.main import cli

cli()
