/*
 * AES-256-GCM into the caller's buffers, for the chunk codec (core/engine/chunk-codec.ts).
 *
 * Node's Cipheriv.update() returns a new buffer for every call: for a 4 MiB chunk that is one
 * allocation, zero fill, page faults and a copy per slice, about a tenth of a full backup's CPU
 * (docs/DECISIONS.md, issue 16). These two functions run OpenSSL's EVP AES-256-GCM (the copy
 * inside the running Node binary: no library of our own is linked) straight from `src` into
 * `dst`, which may be the same bytes (in place). The format is unchanged: 12-byte nonce, AAD,
 * 16-byte tag, as Node's createCipheriv('aes-256-gcm') writes and reads.
 *
 *   seal(key, nonce, aad, src, dst, tag)  -> undefined   writes dst (src.length bytes) and tag
 *   open(key, nonce, aad, src, dst, tag)  -> boolean     false when the tag does not match
 *
 * Every argument is a Uint8Array (a Buffer is one). Built by scripts/build-native.mjs.
 */
#define NAPI_VERSION 8
#include <limits.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <stdbool.h>

typedef struct {
  unsigned char *data;
  size_t length;
} bytes_t;

static bool throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return false;
}

static bool get_bytes(napi_env env, napi_value value, bytes_t *out, const char *name) {
  bool is_typedarray = false;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray) {
    napi_throw_type_error(env, NULL, name);
    return false;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array)
    return throw_type(env, name);
  out->data = data;
  out->length = length;
  return true;
}

typedef struct {
  bytes_t key, nonce, aad, src, dst, tag;
} gcm_args_t;

static bool get_args(napi_env env, napi_callback_info info, gcm_args_t *a) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6)
    return throw_type(env, "expected (key, nonce, aad, src, dst, tag)");
  if (!get_bytes(env, argv[0], &a->key, "key must be a Uint8Array") ||
      !get_bytes(env, argv[1], &a->nonce, "nonce must be a Uint8Array") ||
      !get_bytes(env, argv[2], &a->aad, "aad must be a Uint8Array") ||
      !get_bytes(env, argv[3], &a->src, "src must be a Uint8Array") ||
      !get_bytes(env, argv[4], &a->dst, "dst must be a Uint8Array") ||
      !get_bytes(env, argv[5], &a->tag, "tag must be a Uint8Array"))
    return false;
  if (a->key.length != 32) return throw_type(env, "key must be 32 bytes");
  if (a->nonce.length != 12) return throw_type(env, "nonce must be 12 bytes");
  if (a->tag.length != 16) return throw_type(env, "tag must be 16 bytes");
  if (a->dst.length < a->src.length) return throw_type(env, "dst is shorter than src");
  if (a->src.length > INT_MAX || a->aad.length > INT_MAX) return throw_type(env, "src or aad too large");
  /* In place, or apart: OpenSSL's GCM allows out == in, not a partial overlap. */
  if (a->dst.data != a->src.data && a->dst.data < a->src.data + a->src.length &&
      a->src.data < a->dst.data + a->src.length)
    return throw_type(env, "src and dst overlap without being the same bytes");
  return true;
}

/* Runs one whole GCM operation; returns 1 on success, 0 on an OpenSSL failure or a bad tag. */
static int run_gcm(const gcm_args_t *a, int encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return 0;
  int ok = 0, n = 0;
  if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, a->key.data, a->nonce.data, encrypt) != 1) goto done;
  if (a->aad.length > 0 && EVP_CipherUpdate(ctx, NULL, &n, a->aad.data, (int)a->aad.length) != 1) goto done;
  if (a->src.length > 0 &&
      EVP_CipherUpdate(ctx, a->dst.data, &n, a->src.data, (int)a->src.length) != 1)
    goto done;
  if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, a->tag.data) != 1) goto done;
  if (EVP_CipherFinal_ex(ctx, a->dst.data + a->src.length, &n) != 1) goto done;
  if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, a->tag.data) != 1) goto done;
  ok = 1;
done:
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  gcm_args_t a;
  if (!get_args(env, info, &a)) return NULL;
  if (!run_gcm(&a, 1)) napi_throw_error(env, NULL, "AES-256-GCM encryption failed");
  return NULL;
}

static napi_value open_(napi_env env, napi_callback_info info) {
  gcm_args_t a;
  if (!get_args(env, info, &a)) return NULL;
  napi_value result;
  napi_get_boolean(env, run_gcm(&a, 0) == 1, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"seal", NULL, seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, 2, props) != napi_ok) return NULL;
  return exports;
}
