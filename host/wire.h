/*
** wire.h
** Facts of the protobuf wire format that the schema and the codec share.
*/
#ifndef wire_h
#define wire_h

#define WIRE_MAX_FIELD_NUMBER 536870911u   /* 2^29 - 1 */

/* The wire types: the low three bits of a field's tag. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

#endif
