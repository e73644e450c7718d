"""The DAG `etl_daily`: three KubernetesPodOperator tasks whose pods the webhook sizes.

Every pod the operator creates carries the labels dag_id, task_id and
kubernetes_pod_operator=True (plus run_id, try_number, ... which change per run and are not
part of the task's identity). Run the pods in a namespace that opted in:

    kubectl label namespace airflow airflow-vpa-webhook.io/mode=dry-run   # report only
    kubectl label namespace airflow airflow-vpa-webhook.io/mode=enforce --overwrite

The requests below are only the starting point: once the task's VPA has a recommendation, the
webhook replaces them at pod creation (and scales the limits by the same factor), and the pod
carries the annotations airflow-vpa-webhook.io/vpa and airflow-vpa-webhook.io/updates.
Do not set labels or pod names that vary per run on purpose: the webhook never changes labels,
and the operator finds its pod again by them.
"""
import pendulum
from kubernetes.client import models as k8s

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

NAMESPACE = "airflow"
IMAGE = "registry.local/etl:1.4"

with DAG(
    dag_id="etl_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-vpa-webhook-example"],
) as dag:
    extract = KubernetesPodOperator(
        task_id="extract",
        name="extract",
        namespace=NAMESPACE,
        image=IMAGE,
        cmds=["python", "-m", "etl.extract"],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "250m", "memory": "512Mi"},
        ),
    )

    # do_xcom_push adds the airflow-xcom-sidecar container; its VPA policy can leave it alone
    # (see manifests/examples/etl-daily-load.yaml).
    load = KubernetesPodOperator(
        task_id="load",
        name="load",
        namespace=NAMESPACE,
        image=IMAGE,
        cmds=["python", "-m", "etl.load"],
        do_xcom_push=True,
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "500m", "memory": "1Gi"},
            limits={"memory": "2Gi"},
        ),
    )

    # A task that must keep its hand-tuned requests: the webhook leaves pods with this
    # annotation alone.
    report = KubernetesPodOperator(
        task_id="report",
        name="report",
        namespace=NAMESPACE,
        image=IMAGE,
        cmds=["python", "-m", "etl.report"],
        annotations={"airflow-vpa-webhook.io/skip": "true"},
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "1", "memory": "4Gi"},
            limits={"memory": "4Gi"},
        ),
    )

    extract >> load >> report
