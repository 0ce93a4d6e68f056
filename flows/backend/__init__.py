"""The pipeline's strategies backed by the Prefect server, shared by every worker.

- ``controlplane``: every call to the Prefect API with a hard time bound;
- ``limits``: the per-destination, per-model limits (global concurrency limits);
- ``gate``: ``PrefectGate``, the rate limit on the server;
- ``state``: ``PrefectStateStore``, notification logs in Prefect Variables
  under a per-group lock with a short, renewed lease;
- ``events``: ``PrefectObserver``, Prefect events and run logs per alert.

All of them fail open or bounded: an unreachable or silent API never stalls
a flow beyond ``ControlPlane.timeout_seconds`` per call, and never loses an
alert (see ``slack_alerts.pipeline``).
"""
