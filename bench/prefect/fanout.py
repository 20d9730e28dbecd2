from prefect import flow, task

@task
def item(i):
    return i

@flow
def fanout():
    futures = item.map(range(1000))
    return [f.result() for f in futures]

if __name__ == "__main__":
    fanout()
