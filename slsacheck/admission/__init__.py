"""slsacheck.admission: the Kubernetes admission webhook (a surface over the gate).

`review` reads and writes AdmissionReviews (pure); `judge` decides one image (policy by
name first, caches, single flight, the gate in a thread pool); `webhook` answers one
review within its time budget; `readiness` probes, in the background, the registries
`/readyz` reports on; `app` is the ASGI application `slsacheck serve` runs.
Starlette and uvicorn (the `server` extra) load only with `app`.
"""
