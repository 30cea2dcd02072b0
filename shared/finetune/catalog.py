"""The model catalog: which models each provider can tune, their limits and prices. Data, not code.

The bundled ``models.json`` is the default; ``Settings.finetune_models_file`` (``FINETUNE_MODELS_FILE``) points at a
replacement so that a price change or a new model needs no release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.finetune.exceptions import CatalogError, UnknownModel

BUNDLED_CATALOG = Path(__file__).with_name("models.json")
FORMATS = ("openai-chat", "bedrock-conversation-2024", "prompt-completion")


@dataclass(frozen=True)
class EpochRules:
    """The cookbook's rule: aim for ``target_epochs``, scaled so examples × epochs lands in [min, max]."""

    target_epochs: int = 3
    min_target_examples: int = 100
    max_target_examples: int = 25000
    min_default_epochs: int = 1
    max_default_epochs: int = 25
    tokens_per_message: int = 3
    tokens_per_name: int = 1
    tokens_reply_priming: int = 3


@dataclass(frozen=True)
class SplitRules:
    validation_fraction: float = 0.1
    min_examples_for_validation: int = 10
    seed: int = 1729


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    name: str
    format: str
    methods: tuple[str, ...]
    max_tokens_per_example: int
    context_tokens: int
    training_price_per_1m: float
    input_price_per_1m: float
    output_price_per_1m: float
    tokenizer: str = "o200k_base"
    tokenizer_exact: bool = True
    default_epochs: int | None = None
    max_epochs: int | None = None
    customization_type: str = "FINE_TUNING"
    hyperparameters: dict[str, str] = field(default_factory=dict)
    supports_validation: bool = True
    # The id inference calls use for the base model, when it is not ``name`` (Bedrock's customization ids,
    # such as ``amazon.nova-micro-v1:0:128k``, are not model ids Converse accepts).
    inference_id: str = ""
    # What people call the model ("Amazon Nova Micro").
    label: str = ""
    # AWS regions where the provider tunes this model; empty means anywhere the provider runs.
    regions: tuple[str, ...] = ()
    # The provider refuses a training file with fewer / more examples than these.
    min_examples: int | None = None
    max_examples: int | None = None
    # Bedrock: regions where a custom model of this base can be served on demand (a custom model deployment,
    # billed per token). Empty: serving it needs Provisioned Throughput, billed by the hour.
    on_demand_regions: tuple[str, ...] = ()
    # When the provider stops answering with this model and its fine-tunes (ISO date), if announced.
    shutdown_date: str = ""

    def supports(self, method: str) -> bool:
        return method in self.methods

    @property
    def title(self) -> str:
        return self.label or self.name

    def tunable_in(self, region: str) -> bool:
        return not self.regions or region in self.regions

    def on_demand_in(self, region: str) -> bool:
        return region in self.on_demand_regions


@dataclass(frozen=True)
class Catalog:
    models: dict[tuple[str, str], ModelSpec]
    epochs: EpochRules
    split: SplitRules
    provider_options: dict[str, dict[str, Any]]

    def inference_id(self, provider: str, model: str) -> str:
        """The id to call ``model`` by: a catalog base model's ``inference_id``, else ``model`` itself (a
        fine-tuned model, a deployment ARN, any id the catalog does not list)."""
        spec = self.models.get((provider, model))
        return spec.inference_id if spec is not None and spec.inference_id else model

    def model(self, provider: str, name: str) -> ModelSpec:
        try:
            return self.models[(provider, name)]
        except KeyError:
            known = ", ".join(sorted(n for p, n in self.models if p == provider)) or "none"
            raise UnknownModel(
                f"`{name}` is not a {provider} model I can fine-tune. Configured: {known}.",
                detail=f"unknown model {provider}/{name}",
            ) from None

    def option(self, provider: str, key: str, default: Any = None) -> Any:
        return self.provider_options.get(provider, {}).get(key, default)

    def provider_models(self, provider: str) -> list[ModelSpec]:
        return [spec for (p, _), spec in self.models.items() if p == provider]

    def for_inference_id(self, provider: str, model: str) -> ModelSpec | None:
        """The catalog entry a model id belongs to: its own, or the base whose ``inference_id`` it is."""
        found = self.models.get((provider, model))
        if found is not None:
            return found
        return next((s for s in self.provider_models(provider) if s.inference_id == model), None)


def parse_catalog(data: dict[str, Any]) -> Catalog:
    try:
        epochs = EpochRules(
            **{k: int(v) for k, v in data.get("cookbook", {}).items() if not k.startswith("_")}
        )
        split_raw = {k: v for k, v in data.get("split", {}).items() if not k.startswith("_")}
        split = SplitRules(**split_raw)
        models: dict[tuple[str, str], ModelSpec] = {}
        options: dict[str, dict[str, Any]] = {}
        for provider, pdata in data["providers"].items():
            options[provider] = {k: v for k, v in pdata.items() if k != "models" and not k.startswith("_")}
            for name, m in pdata["models"].items():
                spec = ModelSpec(
                    provider=provider,
                    name=name,
                    format=m["format"],
                    methods=tuple(m["methods"]),
                    max_tokens_per_example=int(m["max_tokens_per_example"]),
                    context_tokens=int(m["context_tokens"]),
                    training_price_per_1m=float(m["training_price_per_1m"]),
                    input_price_per_1m=float(m["input_price_per_1m"]),
                    output_price_per_1m=float(m["output_price_per_1m"]),
                    tokenizer=pdata.get("tokenizer", "o200k_base"),
                    tokenizer_exact=bool(pdata.get("tokenizer_exact", True)),
                    default_epochs=m.get("default_epochs"),
                    max_epochs=m.get("max_epochs"),
                    customization_type=m.get("customization_type", "FINE_TUNING"),
                    hyperparameters=dict(m.get("hyperparameters", {})),
                    supports_validation=bool(m.get("supports_validation", True)),
                    inference_id=str(m.get("inference_id", "")),
                    label=str(m.get("label", "")),
                    regions=tuple(m.get("regions", ())),
                    min_examples=int(m["min_examples"]) if m.get("min_examples") is not None else None,
                    max_examples=int(m["max_examples"]) if m.get("max_examples") is not None else None,
                    on_demand_regions=tuple(m.get("on_demand_regions", ())),
                    shutdown_date=str(m.get("shutdown_date", "")),
                )
                if spec.format not in FORMATS:
                    raise ValueError(f"{provider}/{name}: unknown format {spec.format!r}")
                models[(provider, name)] = spec
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"model catalog is malformed: {exc}") from exc
    return Catalog(models=models, epochs=epochs, split=split, provider_options=options)


@lru_cache(maxsize=8)
def _load(path: str) -> Catalog:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"cannot read model catalog {path}: {exc}") from exc
    return parse_catalog(data)


def load_catalog(settings: Settings | None = None) -> Catalog:
    """The catalog Settings points at, or the bundled one. Cached per path."""
    path = (settings.finetune_models_file if settings else "") or str(BUNDLED_CATALOG)
    return _load(path)
