"""llmtap in a Python process: what LiteLLM's calls become, without an account.

    pip install ./python
    python examples/litellm_logger.py                    # the payloads of examples/payloads.jsonl
    POSTHOG_API_KEY=phc_... python examples/litellm_logger.py --send

Without `--send` it prints, for each recorded standard logging payload, the
normalized usage (`None` where the provider did not report a count, `0`
where it reported zero) and the PostHog event `llmtap replay` would write.
With `--send` it also ships the events through `llmtap.Client`, as the
LiteLLM logger does, and prints the delivery report.

In a real LiteLLM app the whole integration is two lines:

    import litellm, llmtap
    litellm.callbacks = [llmtap.LiteLLMLogger()]
"""

import json
import sys
from pathlib import Path

import llmtap

PAYLOADS = Path(__file__).with_name("payloads.jsonl")


def main():
    send = "--send" in sys.argv[1:]
    client = llmtap.Client() if send else None  # POSTHOG_API_KEY / POSTHOG_HOST
    for line in PAYLOADS.read_text().splitlines():
        slp = json.loads(line)
        usage = llmtap.normalize(slp)
        event = llmtap.build_event(slp, privacy_mode=True)
        reported = {k: v for k, v in usage.items() if v is not None}
        print(f"{event['properties']['$ai_model']:<34} {event['event']:<15} {reported}")
        if client is not None:
            client.log(slp)
    if client is not None:
        report = client.shutdown(30.0)
        print(f"delivered {report['delivered']}, dropped {sum(report['dropped'].values())}")
        sys.exit(0 if not report["timed_out"] and sum(report["dropped"].values()) == 0 else 1)


if __name__ == "__main__":
    main()
