/* test_api_http.c — the API's HTTP/1.1 request-head parser: framing, limits, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

#define MAX_BODY 51200

static int parse(const char *s, struct http_head *h)
{
    return http_parse_head(s, strlen(s), MAX_BODY, h);
}

static void test_complete_request(void **state)
{
    struct http_head h;
    const char *req = "PUT /drives/rootfs?x=1 HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Length: 42\r\nAccept: application/json\r\n\r\n{\"body\"";
    assert_int_equal(parse(req, &h), 1);
    assert_string_equal(h.method, "PUT");
    assert_string_equal(h.path, "/drives/rootfs"); /* the query is dropped */
    assert_true(h.keep_alive);
    assert_true(h.have_length);
    assert_int_equal(h.content_length, 42);
    assert_int_equal(h.head_len, strstr(req, "{") - req);
}

static void test_incomplete_needs_more(void **state)
{
    struct http_head h;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t n = 0; n < strlen(req); n++)
        assert_int_equal(http_parse_head(req, n, MAX_BODY, &h), 0);
    assert_int_equal(parse(req, &h), 1);
    assert_int_equal(h.content_length, 0);
}

static void test_connection_semantics(void **state)
{
    struct http_head h;
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h), 1);
    assert_false(h.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h), 1);
    assert_true(h.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", &h), 1);
    assert_false(h.keep_alive);
    assert_int_equal(
        parse("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h), 1);
    assert_true(h.expect_continue);
    /* blank lines before a request are tolerated */
    assert_int_equal(parse("\r\n\r\nGET /version HTTP/1.1\r\n\r\n", &h), 1);
    assert_string_equal(h.path, "/version");
}

/* Each bad head is refused with STATUS, as early as its bad line is complete. */
static void test_refusals(void **state)
{
    static const struct {
        const char *req;
        int status;
        const char *why;
    } cases[] = {
        {"GARBAGE\r\n", 400, "request line"},
        {"GET  / HTTP/1.1\r\n", 400, "absolute path"},
        {"GET http://x/ HTTP/1.1\r\n", 400, "absolute path"},
        {"GET / HTTP/2.0\r\n", 505, "HTTP/1.1"},
        {"GET / HTTP/1.1\n", 400, "CRLF"},
        {"G(T / HTTP/1.1\r\n", 400, "method"},
        {"GET /a\x01 HTTP/1.1\r\n", 400, "character"},
        {"GET / HTTP/1.1\r\nBad Name: x\r\n", 400, "header name"},
        {"GET / HTTP/1.1\r\nNoColon\r\n", 400, "header line"},
        {"GET / HTTP/1.1\r\n folded\r\n", 400, "folded"},
        {"GET / HTTP/1.1\r\nX: a\x02"
         "b\r\n",
         400, "control character"},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", 400, "Transfer-Encoding"},
        {"PUT / HTTP/1.1\r\nContent-Length: 12a\r\n", 400, "Content-Length"},
        {"PUT / HTTP/1.1\r\nContent-Length: -1\r\n", 400, "Content-Length"},
        {"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n", 400, "more than one"},
        {"PUT / HTTP/1.1\r\nContent-Length: 51201\r\n", 413, "51200"},
        {"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n", 413, "Content-Length"},
        {"PUT / HTTP/1.1\r\nExpect: 200-ok\r\n", 417, "100-continue"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_head h;
        int rc = parse(cases[i].req, &h);
        if (rc != -EINVAL || h.status != cases[i].status || !strstr(h.error, cases[i].why))
            fail_msg("case %zu: rc %d status %d '%s'", i, rc, h.status, h.error);
    }
}

static void test_limits(void **state)
{
    struct http_head h;
    /* a target too long */
    char *req = malloc(HTTP_MAX_HEAD + 64);
    memset(req, 'a', HTTP_MAX_TARGET + 8);
    memcpy(req, "GET /", 5);
    strcpy(req + HTTP_MAX_TARGET + 8, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(req, &h), -EINVAL);
    assert_int_equal(h.status, 414);
    /* a head that never ends, and one that ends too late */
    strcpy(req, "GET / HTTP/1.1\r\nX-Filler: ");
    size_t n = strlen(req);
    memset(req + n, 'b', HTTP_MAX_HEAD + 16 - n);
    assert_int_equal(http_parse_head(req, HTTP_MAX_HEAD + 16, MAX_BODY, &h), -EINVAL);
    assert_int_equal(h.status, 431);
    memcpy(req + HTTP_MAX_HEAD + 8, "\r\n\r\n", 4);
    assert_int_equal(http_parse_head(req, HTTP_MAX_HEAD + 12, MAX_BODY, &h), -EINVAL);
    assert_int_equal(h.status, 431);
    /* too many header lines */
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    assert_int_equal(parse(many, &h), -EINVAL);
    assert_int_equal(h.status, 431);
    free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_request),
        cmocka_unit_test(test_incomplete_needs_more),
        cmocka_unit_test(test_connection_semantics),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
