/* What a test guest provides and what the kit hands it. */
#ifndef KIT_START_H
#define KIT_START_H

#include <kit/xen.h>

/* The test body; record a verdict with kit/report.h and return. */
void test_main(const struct hvm_start_info *si);

/* The start info %ebx pointed at (not validated: the boot test does). */
extern const struct hvm_start_info *kit_start_info;

/* Bounds of the loaded image, from the linker script. */
extern const char _image_start[], _image_end[];

#endif /* KIT_START_H */
