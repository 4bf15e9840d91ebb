# Source on the GPU machine: installs the carried `datasets` wheels (the machine lacks them)
# and keeps the token cache and outputs in predictable places.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 REPRO_CACHE=/tmp/repro-cache
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
