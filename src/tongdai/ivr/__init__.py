"""Call flows (IVR): the flow document and its validation (`flow.py`), the pure interpreter
(`interpreter.py`), and the flows shipped with tongdai (`flows/`)."""
