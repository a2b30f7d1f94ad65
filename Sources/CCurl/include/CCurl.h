#ifndef IPSYNCD_CCURL_H
#define IPSYNCD_CCURL_H
#include <curl/curl.h>
#endif
