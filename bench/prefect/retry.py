from prefect import flow, task
calls = {"n": 0}

@task(retries=3, retry_delay_seconds=0)
def flaky():
    calls["n"] += 1
    if calls["n"] < 3:
        raise RuntimeError("not yet")
    return "ok"

@flow
def retried():
    flaky()

if __name__ == "__main__":
    retried()
