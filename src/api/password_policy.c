/*
 * password_policy.c - the rule for new passwords (see password_policy.h)
 * and its data: the most common passwords of at least
 * PF_PASSWORD_MIN_CHARS characters (shorter ones are refused by length
 * anyway), as published in breach-corpus top lists, plus this product's
 * own name and trade. Compared case-insensitively (ASCII), so "Password1"
 * is refused with "password1". The list is small on purpose: it stops the
 * guesses every attacker tries first without refusing reasonable choices.
 */
#include "propflow/api/password_policy.h"
#include "propflow/base/utf8.h"
#include "propflow/net/auth.h"

#include <string.h>
#include <strings.h>

static const char *const common[] = {
    "password",       "12345678",     "123456789",    "1234567890",    "12345678910",
    "password1",      "password12",   "password123",  "password1234",  "password!",
    "password1!",     "password01",   "password2",    "password3",     "passw0rd",
    "passw0rd!",      "p@ssword",     "p@ssw0rd",     "p@ssw0rd1",     "p@55w0rd",
    "pa55word",       "pa55w0rd",     "passpass",     "passwort",      "motdepasse",
    "contrasena",     "qwertyuiop",   "qwerty123",    "qwerty1234",    "qwerty12",
    "qwerty12345",    "qwertyqwerty", "qwerty123456", "qwertyui",      "qwertyu1",
    "1qaz2wsx",       "1qazxsw2",     "zaq12wsx",     "zaq1zaq1",      "zaq1xsw2",
    "1q2w3e4r",       "1q2w3e4r5t",   "1q2w3e4r5t6y", "q1w2e3r4",      "q1w2e3r4t5",
    "q1w2e3r4t5y6",   "qwer1234",     "1234qwer",     "12qwaszx",      "qweasdzxc",
    "123qweasd",      "qazwsxedc",    "qazwsx123",    "asdfghjkl",     "asdfghjk",
    "asdf1234",       "asdfasdf",     "zxcvbnm1",     "zxcvbnm123",    "zxcvbnmm",
    "iloveyou",       "iloveyou1",    "iloveyou2",    "iloveyou!",     "iloveu123",
    "lovelove",       "loveyou1",     "sunshine",     "sunshine1",     "princess",
    "princess1",      "football",     "football1",    "baseball",      "baseball1",
    "basketball",     "softball",     "soccer123",    "welcome1",      "welcome123",
    "welcome01",      "welcome!",     "abc12345",     "abcd1234",      "abc123456",
    "abcdefgh",       "abcdefg1",     "abcdefghi",    "abcdefghij",    "a1b2c3d4",
    "a1b2c3d4e5",     "a12345678",    "aa123456",     "1a2b3c4d",      "1234abcd",
    "q1234567",       "z1234567",     "trustno1",     "superman",      "superman1",
    "starwars",       "starwars1",    "whatever",     "whatever1",     "computer",
    "computer1",      "michelle",     "jennifer",     "corvette",      "mercedes",
    "mustang1",       "internet",     "internet1",    "letmein1",      "letmein123",
    "letmein!",       "admin123",     "admin1234",    "administrator", "adminadmin",
    "changeme",       "changeme1",    "changeme123",  "secret12",      "secret123",
    "topsecret",      "123123123",    "12312312",     "987654321",     "9876543210",
    "87654321",       "98765432",     "123321123",    "12341234",      "11223344",
    "12344321",       "11111111",     "1111111111",   "00000000",      "0000000000",
    "22222222",       "33333333",     "44444444",     "55555555",      "66666666",
    "77777777",       "88888888",     "99999999",     "12121212",      "13131313",
    "123454321",      "147258369",    "159753456",    "741852963",     "963852741",
    "789456123",      "456123789",    "123456789a",   "123456abc",     "123456qwe",
    "1234567a",       "12345qwert",   "12345678a",    "12345678q",     "0987654321",
    "01234567",       "012345678",    "0123456789",   "31415926",      "14789632",
    "12369874",       "10203040",     "112233445566", "1122334455",    "5201314520",
    "sweetheart",     "chocolate",    "butterfly",    "jordan23",      "michael1",
    "charlie1",       "batman123",    "pokemon1",     "pokemon123",    "dragon123",
    "monkey123",      "master123",    "shadow123",    "blink182",      "liverpool",
    "chelsea1",       "arsenal1",     "manchester",   "barcelona",     "december",
    "november",       "september",    "jessica1",     "ashley123",     "samantha",
    "victoria",       "elizabeth",    "caroline",     "christina",     "danielle",
    "jonathan",       "benjamin",     "nicholas",     "alexander",     "christopher",
    "anthony1",       "hello123",     "hellohello",   "helloworld",    "helloworld1",
    "goodluck",       "mypassword",   "yourpassword", "nopassword",    "thepassword",
    "secretpassword", "privacy1",     "security",     "security1",     "default1",
    "guest123",       "testtest",     "test1234",     "test12345",     "testing123",
    "temp1234",       "temppass",     "user1234",     "login123",      "root1234",
    "toor1234",       "freedom1",     "matrix123",    "access14",      "mustang123",
    "harley123",      "ranger123",    "jordan123",    "thomas123",     "hunter123",
    "buster123",      "soccer12",     "hockey12",     "killer123",     "george123",
    "andrew123",      "pepper123",    "summer123",    "summer2020",    "summer2021",
    "summer2022",     "summer2023",   "summer2024",   "summer2025",    "winter123",
    "spring123",      "autumn123",    "january1",     "february",      "monday123",
    "friday123",      "qwerty007",    "james007",     "bond007!",      "1234567890a",
    "666666666",      "888888888",    "999999999",    "111111111",     "000000000",
    "123123123123",   "1231231231",   "321321321",    "123654789",     "147852369",
    "159357456",      "258456258",    "zaqxswcde",    "qwaszxqwaszx",  "1qaz@wsx",
    "1qaz!qaz",       "!qaz2wsx",     "qwe123qwe",    "qweqweqwe",     "asdasdasd",
    "zxczxczxc",      "asd123asd",    "abc123abc",    "1q2w3e4r!",     "passwordpassword",
    "iloveyou123",    "loveme123",    "babygirl1",    "princesa",      "lovely123",
    "angel123",       "tinkerbell",   "cheese123",    "cookie123",     "flower123",
    "password99",     "password2020", "password2021", "password2022",  "password2023",
    "password2024",   "password2025", "welcome2020",  "welcome2021",   "welcome2022",
    "welcome2023",    "welcome2024",  "welcome2025",  "company123",    "business1",
    "office123",      "spring2024",   "spring2025",   "fall2024",      "fall2025",
    "winter2024",     "winter2025",   "startrek",     "startup1",      "whatsup1",
    "trustme1",       "letmeinnow",   "opensesame",   "bigdaddy1",     "computer123",
    "internet123",    "samsung123",   "iphone123",    "google123",     "facebook1",
    "linkedin1",      "twitter1",     "youtube1",     "microsoft",     "windows1",
    "windows10",      "apple123",     "android1",     "qwerty!@#",     "!@#$%^&*",
    "1234!@#$",       "!qaz@wsx#edc", "1qaz2wsx3edc", "qazxswedc",     "123qwe!@#",
    "p@ssw0rd!",      "p@$$w0rd",     "p4ssw0rd",     "pa$$word",      "pa$$w0rd",
    "passwd123",      "pass1234",     "pass12345",    "pass@123",      "pass123!",
    "admin@123",      "admin!23",     "admin123!",    "root123!",      "welcome@1",
    "welcome@123",    "test@123",     "user@123",     "india@123",     "abc@1234",
    "abcd@1234",      "changeit",     "propflow",     "propflow1",     "propflow123",
    "listings",       "listing1",     "property",     "property1",     "realestate",
    "realtor1",       "mlslisting",
};

static bool is_common(const char *pw, size_t len)
{
	for (size_t i = 0; i < PF_ARRAY_LEN(common); i++)
		if (strlen(common[i]) == len && strncasecmp(common[i], pw, len) == 0)
			return true;
	return false;
}

const char *pf_password_policy_check(const char *pw, size_t len)
{
	if (len > PF_AUTH_PASSWORD_MAX)
		return "password longer than 1024 bytes";
	if (!pf_utf8_valid(pw, len) || memchr(pw, 0, len))
		return "password is not valid UTF-8 text";
	if (pf_utf8_chars(pw, len) < PF_PASSWORD_MIN_CHARS)
		return "password too short: at least 8 characters";
	if (is_common(pw, len))
		return "password too common: it is on the list of the most used passwords";
	return NULL;
}
