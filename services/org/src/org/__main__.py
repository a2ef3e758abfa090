from org.main import cli

cli()
