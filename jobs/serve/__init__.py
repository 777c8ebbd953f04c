"""`linguacodus serve`: the instruction model behind an OpenAI-compatible API on Ray Serve. command.py is
the subcommand, app.py the application builder, args.py its arguments, embedded.py and vllm.py (with
ingress.py) the two backends, requests.py the request checks of the embedded app."""
