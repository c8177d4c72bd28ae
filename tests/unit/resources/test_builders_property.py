"""For any valid spec, the builders produce consistent, well-formed children."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from forescale.api.spec import LLMDeploymentSpec
from forescale.resources.children import build_children
from forescale.resources.owner import Owner

specs = st.builds(
    lambda gpus, tp, port, cold, minr, extra, seqs: {
        "model": {"name": "org/model"},
        "resources": {"gpuCount": gpus},
        "engine": {"tensorParallelSize": min(tp, gpus), "allowIdleGpus": True, "maxNumSeqs": seqs},
        "service": {"port": port},
        "scaling": {"coldStartSeconds": cold, "minReplicas": minr, "maxReplicas": minr + extra},
    },
    st.integers(1, 64),
    st.integers(1, 64),
    st.integers(1, 65535),
    st.integers(0, 7200),
    st.integers(1, 500),
    st.integers(0, 500),
    st.integers(1, 4096),
)


@settings(max_examples=60, deadline=None)
@given(specs)
def test_children_are_consistent(raw: dict[str, object]) -> None:
    spec = LLMDeploymentSpec.model_validate(raw)
    owner = Owner(name="m", namespace="ns", uid="u", spec=spec)
    children = {c["kind"]: c for c in build_children(owner)}
    deployment = children["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = spec.service.port
    assert container["ports"][0]["containerPort"] == port
    assert f"--port={port}" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(spec.resources.gpu_count)
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= spec.scaling.cold_start_seconds
    assert deployment["spec"]["progressDeadlineSeconds"] >= spec.scaling.cold_start_seconds
    assert children["Service"]["spec"]["ports"][0]["port"] == port
    for child in children.values():
        assert child["metadata"]["name"] == "m"
        assert child["metadata"]["ownerReferences"][0]["uid"] == "u"
