"""slsacheck.admission: the Kubernetes admission webhook (a surface over the gate).

`review` reads and writes AdmissionReviews (pure); `judge` decides one image (policy by
name first, caches, then the gate in a thread of `pool`, which shares the threads per
requester and per registry host and marks hosts that hang); `webhook` answers one
review within its time budget; `readiness` probes, in the background, the registries
`/readyz` reports on; `app` is the ASGI application `slsacheck serve` runs.
Starlette and uvicorn (the `server` extra) load only with `app`.
"""
