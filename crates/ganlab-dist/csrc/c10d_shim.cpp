// The only C++ of the workspace: a thin `extern "C"` layer over libtorch's own distributed
// engine (c10d): the TCPStore rendezvous, the Gloo process group for CPU tensors and, built with
// GANLAB_WITH_NCCL, the NCCL process group for CUDA tensors. Every function catches what c10d
// throws and returns it as a status and a message (exceptions must not cross into Rust). Tensors
// arrive as torch-sys's `tensor`, which is a `torch::Tensor*` (torch-sys's torch_api.h:
// `typedef torch::Tensor *tensor;`).

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef GANLAB_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/util/Logging.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

using Millis = std::chrono::milliseconds;

struct Store {
  c10::intrusive_ptr<c10d::Store> store;
};

struct Group {
  c10::intrusive_ptr<c10d::Backend> backend;
};

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
  }
  return out;
}

// Runs `f`, turning any exception into status 1 and `*err`.
template <typename F>
int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    *err = copy_string(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = copy_string(e.what());
  } catch (...) {
    *err = copy_string("an unknown C++ exception");
  }
  return 1;
}

std::vector<at::Tensor> tensors_of(at::Tensor** ts, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; i++) out.push_back(*ts[i]);
  return out;
}

// c10d logs its own errors (with C++ stack frames) to stderr before it throws them; the Rust
// side reports each failure once, in words. TORCH_CPP_LOG_LEVEL (INFO, WARNING, ERROR, FATAL)
// brings c10's logging back, as it does for PyTorch.
void quiet_c10d_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("TORCH_CPP_LOG_LEVEL") != nullptr) {
      c10::initLogging();
    } else {
      FLAGS_caffe2_log_level = 3;  // FATAL
    }
  });
}

Millis timeout_of(int64_t ms) {
  return ms > 0 ? Millis(ms) : c10d::kUnsetTimeout;
}

void finish(const c10::intrusive_ptr<c10d::Work>& work, int64_t timeout_ms) {
  if (timeout_ms > 0) {
    work->wait(Millis(timeout_ms));
  } else {
    work->wait();
  }
}

}  // namespace

extern "C" {

void ganlab_c10d_free_string(char* s) { std::free(s); }

// A TCPStore client (or, with is_server, the server and a client), optionally under a prefix.
int ganlab_c10d_store_new(const char* host, int port, int is_server, int world_size,
                          int64_t timeout_ms, const char* prefix, void** out, char** err) {
  quiet_c10d_logs();
  return guarded(err, [&] {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = is_server != 0;
    opts.numWorkers = world_size;
    opts.waitWorkers = false;
    opts.timeout = Millis(timeout_ms);
    opts.multiTenant = true;
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    if (prefix != nullptr && prefix[0] != '\0') {
      store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), store);
    }
    *out = new Store{store};
  });
}

void ganlab_c10d_store_free(void* store) { delete static_cast<Store*>(store); }

int ganlab_c10d_store_set(void* store, const char* key, const uint8_t* value, size_t len,
                          char** err) {
  return guarded(err, [&] {
    std::vector<uint8_t> v(value, value + len);
    static_cast<Store*>(store)->store->set(std::string(key), v);
  });
}

// Blocks until `key` exists (up to the store's timeout); the value is malloc'd into *value.
int ganlab_c10d_store_get(void* store, const char* key, uint8_t** value, size_t* len,
                          char** err) {
  return guarded(err, [&] {
    std::vector<uint8_t> v = static_cast<Store*>(store)->store->get(std::string(key));
    *len = v.size();
    *value = static_cast<uint8_t*>(std::malloc(v.size() > 0 ? v.size() : 1));
    if (!v.empty()) std::memcpy(*value, v.data(), v.size());
  });
}

int ganlab_c10d_store_check(void* store, const char* key, int* exists, char** err) {
  return guarded(err, [&] {
    *exists = static_cast<Store*>(store)->store->check({std::string(key)}) ? 1 : 0;
  });
}

int ganlab_c10d_store_add(void* store, const char* key, int64_t delta, int64_t* value,
                          char** err) {
  return guarded(err, [&] { *value = static_cast<Store*>(store)->store->add(std::string(key), delta); });
}

// A Gloo process group over `store`. `iface` names a network interface to bind to
// (GLOO_SOCKET_IFNAME), else `hostname` an address to bind to; both empty: Gloo's default device
// (this machine's hostname, falling back to the loopback address).
int ganlab_c10d_gloo_new(void* store, int rank, int world_size, int64_t timeout_ms,
                         const char* iface, const char* hostname, int threads, void** out,
                         char** err) {
  return guarded(err, [&] {
    auto opts = c10d::ProcessGroupGloo::Options::create(Millis(timeout_ms));
    if (iface != nullptr && iface[0] != '\0') {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    } else if (hostname != nullptr && hostname[0] != '\0') {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    if (threads > 0) opts->threads = threads;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(static_cast<Store*>(store)->store,
                                                          rank, world_size, opts);
    *out = new Group{pg};
  });
}

// An NCCL process group (CUDA tensors); fails with a clear message in a build without NCCL.
int ganlab_c10d_nccl_new(void* store, int rank, int world_size, int64_t timeout_ms, void** out,
                         char** err) {
#ifdef GANLAB_WITH_NCCL
  return guarded(err, [&] {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = Millis(timeout_ms);
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(static_cast<Store*>(store)->store,
                                                          rank, world_size, opts);
    *out = new Group{pg};
  });
#else
  (void)store; (void)rank; (void)world_size; (void)timeout_ms; (void)out;
  *err = copy_string(
      "this build of ganlab-dist has no NCCL (build with the `nccl` feature against the NCCL "
      "headers that `cargo xtask setup --full` installs)");
  return 1;
#endif
}

void ganlab_c10d_group_free(void* group) { delete static_cast<Group*>(group); }

// op: 0 sum, 1 max, 2 min.
int ganlab_c10d_allreduce(void* group, at::Tensor** ts, int n, int op, int64_t timeout_ms,
                          char** err) {
  return guarded(err, [&] {
    auto tensors = tensors_of(ts, n);
    c10d::AllreduceOptions opts;
    opts.reduceOp = op == 1 ? c10d::ReduceOp::MAX : op == 2 ? c10d::ReduceOp::MIN : c10d::ReduceOp::SUM;
    opts.timeout = timeout_of(timeout_ms);
    if (tensors.size() == 1) {
      finish(static_cast<Group*>(group)->backend->allreduce(tensors, opts), timeout_ms);
    } else {
      c10d::AllreduceCoalescedOptions copts;
      copts.reduceOp = opts.reduceOp;
      copts.timeout = opts.timeout;
      finish(static_cast<Group*>(group)->backend->allreduce_coalesced(tensors, copts), timeout_ms);
    }
  });
}

int ganlab_c10d_broadcast(void* group, at::Tensor** ts, int n, int root, int64_t timeout_ms,
                          char** err) {
  return guarded(err, [&] {
    auto backend = static_cast<Group*>(group)->backend;
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = timeout_of(timeout_ms);
    // One call per tensor: Gloo broadcasts a list only of tensors on several devices.
    for (int i = 0; i < n; i++) {
      std::vector<at::Tensor> one{*ts[i]};
      finish(backend->broadcast(one, opts), timeout_ms);
    }
  });
}

// Gathers `input` from every rank into `outputs[0..world_size]` (same shape and kind each).
int ganlab_c10d_allgather(void* group, at::Tensor** outputs, int world_size, at::Tensor* input,
                          int64_t timeout_ms, char** err) {
  return guarded(err, [&] {
    std::vector<std::vector<at::Tensor>> outs{tensors_of(outputs, world_size)};
    std::vector<at::Tensor> ins{*input};
    c10d::AllgatherOptions opts;
    opts.timeout = timeout_of(timeout_ms);
    finish(static_cast<Group*>(group)->backend->allgather(outs, ins, opts), timeout_ms);
  });
}

int ganlab_c10d_barrier(void* group, int64_t timeout_ms, char** err) {
  return guarded(err, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = timeout_of(timeout_ms);
    finish(static_cast<Group*>(group)->backend->barrier(opts), timeout_ms);
  });
}

}  // extern "C"
