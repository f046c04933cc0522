"""Where a step's time goes, operator by operator: reads the Chrome trace that
`vlm-bench-engine --trace PREFIX` writes per rank (LibTorch's profiler over the timed steps) and
prints each operator's self time per step (its time minus that of the operators it called),
its total time and its calls per step, largest self time first.

  mpirun -np 2 build/bin/vlm-bench-engine --recipe bench/gpt_like.yaml --set training.dtype=bf16 \
      --steps 5 --trace /tmp/trace
  /usr/bin/python3 bench/op_profile.py /tmp/trace0.json --steps 5
"""
import argparse
import collections
import json


def self_times(events):
    """Self and total microseconds and call counts per operator name. Events of one thread nest
    by time: a parent's self time loses what each direct child takes."""
    by_thread = collections.defaultdict(list)
    for event in events:
        if event.get("ph") == "X":
            by_thread[event.get("tid")].append(event)
    own, total, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_events = []
        for event in thread_events:
            while open_events and open_events[-1]["ts"] + open_events[-1]["dur"] <= event["ts"]:
                open_events.pop()
            if open_events:
                own[open_events[-1]["name"]] -= event["dur"]
            own[event["name"]] += event["dur"]
            total[event["name"]] += event["dur"]
            calls[event["name"]] += 1
            open_events.append(event)
    return own, total, calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", help="a rank's trace, e.g. /tmp/trace0.json")
    parser.add_argument("--steps", type=int, default=1, help="timed steps the trace covers")
    parser.add_argument("--top", type=int, default=30, help="operators to print")
    args = parser.parse_args()
    trace = json.load(open(args.trace))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    own, total, calls = self_times(events)
    per_step = lambda us: us / 1000.0 / args.steps
    print(f"{sum(own.values()) / 1000.0 / args.steps:.1f} ms per step in operators")
    print(f"{'self ms':>9} {'total ms':>9} {'calls':>6}  operator (per step)")
    for name, us in own.most_common(args.top):
        print(f"{per_step(us):>9.2f} {per_step(total[name]):>9.2f} "
              f"{calls[name] // args.steps:>6}  {name}")


if __name__ == "__main__":
    main()
