"""`make bench`: every benchmark, one after another, each printing its figures against its target."""

import asyncio
import importlib
import inspect
import sys

BENCHMARKS = ("bench_interactions", "bench_datasets", "bench_ingest", "bench_finetune_tokens", "bench_voice",
              "bench_local_voice")


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        print(f"\n== {name}", flush=True)
        entry = importlib.import_module(f"tests.bench.{name}").main
        result = entry()
        if inspect.iscoroutine(result):
            asyncio.run(result)


if __name__ == "__main__":
    main(sys.argv[1:])
