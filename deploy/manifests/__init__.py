"""What operators deploy, generated from the launcher's process table: the Kubernetes base
(`k8s.py`) and the docker compose file (`compose.py`). `python -m deploy.manifests` writes
them; `--check` fails when a file in the repo differs from what the table gives."""
