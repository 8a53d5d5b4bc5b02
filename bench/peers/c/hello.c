/*
** hello.c
** HelloRequest and HelloReply bytes by hand: both are one length-delimited
** field 1 (tag byte 0x0a), so the peer needs no codec.
*/
#include <string.h>

#include <grpc/byte_buffer_reader.h>

#include "core.h"

#define FIELD_1_BYTES 0x0a

/* The message in one slice: its own when it came in one, uncompressed; else a copy. */
static grpc_slice whole(grpc_byte_buffer *bb) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) return grpc_empty_slice();
  const grpc_slice_buffer *in = &reader.buffer_in->data.raw.slice_buffer;
  grpc_slice s = reader.buffer_out == reader.buffer_in && in->count == 1 ? grpc_slice_ref(in->slices[0])
                                                                         : grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  return s;
}

grpc_slice core_request_name(grpc_byte_buffer *bb) {
  grpc_slice msg = whole(bb), name = grpc_empty_slice();
  const uint8_t *p = GRPC_SLICE_START_PTR(msg), *end = GRPC_SLICE_END_PTR(msg);
  if (p < end && *p++ == FIELD_1_BYTES) {
    size_t len = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
      len |= (size_t)(*p & 0x7f) << shift;
      if (!(*p++ & 0x80)) break;
    }
    if (len <= (size_t)(end - p)) {
      size_t at = (size_t)(p - GRPC_SLICE_START_PTR(msg));
      name = grpc_slice_sub(msg, at, at + len);
    }
  }
  grpc_slice_unref(msg);
  return name;
}

static size_t put_varint(uint8_t *p, size_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7) p[n++] = (uint8_t)(v | 0x80);
  p[n++] = (uint8_t)v;
  return n;
}

grpc_byte_buffer *core_reply(const grpc_slice *parts, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += GRPC_SLICE_LENGTH(parts[i]);
  uint8_t head[1 + 10];
  head[0] = FIELD_1_BYTES;
  size_t head_len = 1 + put_varint(head + 1, len);
  grpc_slice s = grpc_slice_malloc(head_len + len);
  uint8_t *p = GRPC_SLICE_START_PTR(s);
  memcpy(p, head, head_len);
  p += head_len;
  for (size_t i = 0; i < n; i++) {
    memcpy(p, GRPC_SLICE_START_PTR(parts[i]), GRPC_SLICE_LENGTH(parts[i]));
    p += GRPC_SLICE_LENGTH(parts[i]);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}
