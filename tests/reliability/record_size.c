/*
 * record_size.c - prints sizeof(struct span_record): the bytes one queue
 * slot holds, from which the memory tests compute the queue's bound.
 */
#include <stdio.h>

#include "exporter.h"

int main(void)
{
	printf("%zu\n", sizeof(struct span_record));
	return 0;
}
