from prefect import flow, task

@task
def step(i):
    return i

@flow
def seq100():
    for i in range(100):
        step(i)

if __name__ == "__main__":
    seq100()
