/* tests/unit/test_sasl.c: AUTH arguments, base64, user names from PLAIN and LOGIN */
#include <string.h>

#include "sasl.h"
#include "t.h"
#include "util.h"

int
main(void)
{
	static const struct {
		const char *arg;
		enum sasl_mech mech;
		const char *ir;
	} args[] = {
		{ "PLAIN", SASL_PLAIN, NULL }, { "plain AGFsaWNlAHNlY3JldA==", SASL_PLAIN, "AGFsaWNlAHNlY3JldA==" },
		{ "LOGIN", SASL_LOGIN, NULL }, { "LOGIN YWxpY2U=", SASL_LOGIN, "YWxpY2U=" },
		{ "CRAM-MD5", SASL_OTHER, NULL }, { "PLAIN =", SASL_PLAIN, "=" }, { "", SASL_NONE, NULL },
		{ "PLAIN a b", SASL_NONE, NULL },
	};
	static const struct {
		const char *b64;
		bool ok;
		const char *user;
	} plain[] = {
		{ "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQ=", true, "alice@example.test" }, /* \0alice@..\0s3cret */
		{ "YWRtaW4AYWxpY2UAcHc=", true, "alice" },                              /* admin\0alice\0pw */
		{ "AGFsaWNl", false, "" },                                                /* \0alice: no password part */
		{ "AABwdw==", false, "" },                                                /* empty authcid */
		{ "AGFsaQFjZQBwdw==", false, "" },                                        /* control byte in the name */
		{ "AGFsaWNlAHB3", true, "alice" },
		{ "AGFsaWNlAHB3=", false, "" },                                           /* bad length */
		{ "AGFsaW*lAHB3", false, "" },                                            /* not base64 */
		{ "AG=saWNlAHB3", false, "" },                                            /* padding inside */
	};
	char user[SASL_USER_MAX], small[4];
	unsigned char out[16];

	for (size_t i = 0; i < nitems(args); i++) {
		const char *ir;
		size_t irlen;
		enum sasl_mech m = sasl_auth_args(args[i].arg, strlen(args[i].arg), &ir, &irlen);

		t_true(m == args[i].mech, "mech of '%s' = %s", args[i].arg, sasl_mech_name(m));
		if (args[i].ir != NULL)
			t_true(ir != NULL && irlen == strlen(args[i].ir) && memcmp(ir, args[i].ir, irlen) == 0,
			    "initial response of '%s'", args[i].arg);
		else if (m != SASL_NONE)
			t_true(irlen == 0, "no initial response in '%s'", args[i].arg);
	}
	for (size_t i = 0; i < nitems(plain); i++) {
		char *copy = t_dup(plain[i].b64, strlen(plain[i].b64));
		bool ok = sasl_plain_user(copy, strlen(plain[i].b64), user, sizeof(user));

		t_true(ok == plain[i].ok, "PLAIN %s -> %d", plain[i].b64, ok);
		if (ok)
			t_true(strcmp(user, plain[i].user) == 0, "PLAIN user '%s'", user);
		free(copy);
	}
	t_true(sasl_login_user("YWxpY2VAZXhhbXBsZS50ZXN0", 24, user, sizeof(user)) && !strcmp(user, "alice@example.test"),
	    "LOGIN user");
	t_true(!sasl_login_user("", 0, user, sizeof(user)), "LOGIN empty");
	t_true(!sasl_login_user("YWxpY2U=", 8, small, sizeof(small)), "LOGIN user too long for the buffer");
	t_true(b64_decode("TWFu", 4, out, sizeof(out)) == 3 && !memcmp(out, "Man", 3), "b64 Man");
	t_true(b64_decode("TWE=", 4, out, sizeof(out)) == 2, "b64 one pad");
	t_true(b64_decode("TQ==", 4, out, sizeof(out)) == 1, "b64 two pads");
	t_true(b64_decode("T===", 4, out, sizeof(out)) == -1, "b64 three pads");
	t_true(b64_decode("TWFuTWFu", 8, out, 4) == -1, "b64 output bound");
	return t_done();
}
