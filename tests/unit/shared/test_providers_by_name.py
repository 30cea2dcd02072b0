"""ProvidersByName: each provider built once, by name, even when two threads ask for it at once."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from shared.finetune.providers import ProvidersByName


def test_each_name_is_built_once_and_kept():
    built = []

    def build(name):
        built.append(name)
        return SimpleNamespace(name=name)

    providers = ProvidersByName(build)
    openai, bedrock = providers("openai"), providers("bedrock")
    assert providers("openai") is openai and providers("bedrock") is bedrock
    assert (openai.name, bedrock.name, built) == ("openai", "bedrock", ["openai", "bedrock"])


def test_two_threads_asking_at_once_get_the_same_provider():
    release = threading.Event()

    def slow_build(name):
        release.wait(5)
        return SimpleNamespace(name=name)

    providers = ProvidersByName(slow_build)
    got = []
    threads = [threading.Thread(target=lambda: got.append(providers("openai"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert len(got) == 2 and got[0] is got[1]
