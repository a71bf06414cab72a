// libtorch's autocast switches for the CPU and CUDA, which tch 0.24 exposes for CUDA's enabled
// flag only (`at::autocast::set_enabled`). Every function catches what libtorch throws and
// returns a status, so no C++ exception crosses into Rust.
#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace {
c10::DeviceType device_of(int device) { return device == 1 ? c10::DeviceType::CUDA : c10::DeviceType::CPU; }
c10::ScalarType dtype_of(int dtype) { return dtype == 1 ? c10::ScalarType::Half : c10::ScalarType::BFloat16; }
int code_of(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::BFloat16: return 0;
    case c10::ScalarType::Half: return 1;
    default: return 2;
  }
}
}  // namespace

extern "C" {
// device: 0 CPU, 1 CUDA; dtype: 0 bfloat16, 1 float16 (2: another type, read only).
int ganlab_autocast_state(int device, int* enabled, int* dtype) {
  try {
    *enabled = at::autocast::is_autocast_enabled(device_of(device)) ? 1 : 0;
    *dtype = code_of(at::autocast::get_autocast_dtype(device_of(device)));
    return 0;
  } catch (...) {
    return 1;
  }
}

int ganlab_autocast_set(int device, int enabled, int dtype) {
  try {
    if (dtype == 0 || dtype == 1) at::autocast::set_autocast_dtype(device_of(device), dtype_of(dtype));
    at::autocast::set_autocast_enabled(device_of(device), enabled != 0);
    return 0;
  } catch (...) {
    return 1;
  }
}

int ganlab_autocast_enter() {
  try {
    return at::autocast::increment_nesting();
  } catch (...) {
    return -1;
  }
}

// Leaving the outermost region drops the cache of weights cast to the reduced type, as
// PyTorch's `torch.autocast.__exit__` does.
int ganlab_autocast_exit() {
  try {
    int nesting = at::autocast::decrement_nesting();
    if (nesting == 0) at::autocast::clear_cache();
    return nesting;
  } catch (...) {
    return -1;
  }
}
}
