/* SPDX-License-Identifier: MIT */
/* harectl: the researchers' command line for hared (cli.h does the work). */
#include "cli.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	return cli_main(argc, argv, stdout, stderr);
}
