"""``build_chat_model``: the one ChatModel the daemon and the CLI talk to.

It is always the :class:`~edge_agent.llm.router.LlmRouter` (even for ``local_only``, so routes and
first-token times are reported the same way). Nothing slow happens here: call ``await model.start()``
to probe every region in parallel while the local model loads in a thread, and ``await model.stop()``
at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edge_agent.config import LlmPolicy, Settings
from edge_agent.errors import ConfigError
from edge_agent.llm.base import ChatModel
from edge_agent.llm.router import LlmRouter, OnEvent

if TYPE_CHECKING:
    from edge_agent.models import ModelManager


def build_chat_model(settings: Settings, models: ModelManager, on_event: OnEvent | None = None,
                     warm_system: str | None = None) -> LlmRouter:
    """``warm_system``: the system prompt the local model's turns will start with, evaluated into
    its KV cache while it loads (default: ``llm.system_prompt``)."""
    from edge_agent.llm.cloud import CloudRegionModel
    from edge_agent.llm.local import build_local_llm, system_prompt
    from edge_agent.llm.regions import RegionMonitor

    llm = settings.llm
    policy = llm.policy
    cloud = llm.cloud
    if policy in (LlmPolicy.CLOUD_ONLY, LlmPolicy.CLOUD_FIRST) and not cloud.regions:
        raise ConfigError(f"llm.policy is {policy} but no [[llm.cloud.regions]] is configured "
                          "(add one with name, base_url and model, or set llm.policy to local_first)")
    monitor = None
    if cloud.regions and policy is not LlmPolicy.LOCAL_ONLY:
        prompt = system_prompt(settings)
        monitor = RegionMonitor(cloud, [CloudRegionModel(cloud, r, system_prompt=prompt) for r in cloud.regions])
    loader: Callable[[], ChatModel] | None = None
    if policy is not LlmPolicy.CLOUD_ONLY:

        def loader() -> ChatModel:
            local = build_local_llm(settings, models)
            local.warm(warm_system)  # the system prompt goes into the KV cache before the first turn
            return local

    return LlmRouter(llm, None, monitor, on_event, local_loader=loader)
