from activities.main import cli

cli()
