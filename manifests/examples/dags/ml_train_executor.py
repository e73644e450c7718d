"""The DAG `ml_train`: Python tasks run by the KubernetesExecutor, each in its own pod.

The executor labels every worker pod with dag_id, task_id and kubernetes_executor=True, and
names its first container `base`. The webhook sizes `base` from the task's VPA, which learns
from the task's own pods only: a KubernetesPodOperator task run by this executor makes two pods
(the small executor worker and the operator's workload) whose usage is never mixed, because
the launcher label is part of the task's identity.

Per-task starting requests go in executor_config's pod_override, on the container named
`base`; the webhook replaces them once a recommendation exists. Put the namespace the
executor launches pods in (kubernetes_executor.namespace) under the opt-in label:

    kubectl label namespace airflow airflow-vpa-webhook.io/mode=enforce
"""
import pendulum
from kubernetes.client import models as k8s

from airflow import DAG
from airflow.operators.python import PythonOperator


def _base_resources(cpu: str, memory: str, memory_limit: str) -> dict:
    """An executor_config that sets the starting requests of the worker's `base` container."""
    return {
        "pod_override": k8s.V1Pod(
            spec=k8s.V1PodSpec(
                containers=[
                    k8s.V1Container(
                        name="base",
                        resources=k8s.V1ResourceRequirements(
                            requests={"cpu": cpu, "memory": memory},
                            limits={"memory": memory_limit},
                        ),
                    )
                ]
            )
        )
    }


def _prepare(**_):
    print("preparing features")


def _fit(**_):
    print("fitting the model")


with DAG(
    dag_id="ml_train",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-vpa-webhook-example"],
) as dag:
    prepare = PythonOperator(
        task_id="prepare",
        python_callable=_prepare,
        executor_config=_base_resources("500m", "1Gi", "2Gi"),
    )

    # A weekly task: the VPA recommender forgets history after
    # memory-aggregation-interval x memory-aggregation-interval-count (8 days by default),
    # see manifests/vpa/README.md.
    fit = PythonOperator(
        task_id="fit",
        python_callable=_fit,
        executor_config=_base_resources("2", "8Gi", "12Gi"),
    )

    prepare >> fit
