"""The HTTP API over the decision service (FastAPI on uvicorn). Assembly is in ``app.py``."""
