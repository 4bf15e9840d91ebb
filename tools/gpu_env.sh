# Source on the GPU machine (repo root): the carried wheels (`datasets` and its needs, which the
# machine lacks; cut-cross-entropy), the spec package under its installed name, the token cache
# (GPT-1's spaCy tokens come packed, tools/gpt1_tokens.py) and the commit the tree is at.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
ln -sfn "$PWD/papers" /tmp/site/repro_papers      # what `pip install -e .` would name it
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 REPRO_CACHE=/tmp/repro-cache
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# `if`, not `&&`: a missing file must not make `source` of this script fail
if [ -f .dev/carry/COMMIT ]; then export REPRO_COMMIT=$(cat .dev/carry/COMMIT); fi
if [ -f .dev/carry/gpt1-tokens.tar.xz ]; then python3 tools/gpt1_tokens.py unpack .dev/carry/gpt1-tokens.tar.xz; fi
