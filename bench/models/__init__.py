"""Conv-FSENet with DynCP gates (:mod:`.fsenet`), gates (:mod:`.gates`) and losses (:mod:`.loss`)."""
from bench.models.fsenet import ConvFSENet, FSENetConfig, GateConfig, ModelOutput

__all__ = ["ConvFSENet", "FSENetConfig", "GateConfig", "ModelOutput"]
