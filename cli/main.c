/* SPDX-License-Identifier: MIT */
/* harectl: the researchers' command line for hared (cli.h does the work). */
#include "cli.h"

#include <locale.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	/* character widths only (tables line up wide CJK names; wcwidth):
	 * numbers and messages stay as in the C locale */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "C.utf8");
	return cli_main(argc, argv, stdout, stderr);
}
