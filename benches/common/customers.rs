//! A generated customer base described by three sources with the layouts of the bundled
//! `config/goldrec.toml` (a CRM CSV, a web-shop NDJSON with nested name / contact / shipping
//! fields, a support-desk CSV), with what real mixed-country feeds hold. Shared by the
//! `multisource` integration test (small) and `benches/quality.rs` (20k .. 200k+ people).
//!
//! People: about 60% with Chinese names (most living in China: Chinese cities, 6-digit
//! postcodes, Chinese mobiles; some in the US with US phones, a few with an English name), 40%
//! US. Names follow Zipf-like frequencies (a few very common ones, a long tail), so a large
//! base has many namesakes: "Michael Jones" dozens of times, 王伟 hundreds of times.
//! People live in households: spouses (US wives often renamed, so maiden-name records),
//! children, twins (same birth date), fathers and sons of the same name; a household shares
//! its address, often a landline and sometimes one e-mail address.
//!
//! Per record the variations are drawn at fixed, realistic rates (nothing is configurable, so
//! every run of a size is the same data): Hanzi / pinyin / reversed / glued case-marked
//! (`WANGMing`, `LIJian`, `lijian`) / all-caps names, swapped first and last name in the web
//! shop; nicknames, initials (`C. Romero`), middle initials, one typo, hyphenated family names;
//! phones in every national and international form of both countries in every source (a CN
//! mobile without `+86` in a source whose region is US is a real phenomenon), new phones,
//! recycled numbers (reassigned to an unrelated person), household landlines, company
//! switchboards; personal e-mails with case / dot / plus-tag variations, generic
//! initial+surname addresses at big providers that namesakes share, family addresses, new
//! addresses, missing ones; five date formats, day/month swaps and one-digit typos; moves,
//! street abbreviations, apartment numbers, Chinese addresses in Hanzi or pinyin; support
//! records with a name and one contact point, or a name and a city only; duplicate records
//! inside one source.
//!
//! Each record carries the phenomena it shows as tag bits ([`TAG_NAMES`]), and [`score`]
//! breaks false merges down by how the merged people relate and missed pairs by tag.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

/// The three sources, in load order.
pub const SOURCES: [&str; 3] = ["crm", "webshop", "support"];

// ---------------------------------------------------------------------------------------------
// Tags: the phenomena a record shows.

/// Given name written as a nickname (Bob for Robert).
pub const T_NICKNAME: u32 = 1 << 0;
/// Given name reduced to an initial (`C. Romero`).
pub const T_INITIAL: u32 = 1 << 1;
/// One typo in the given or family name.
pub const T_TYPO: u32 = 1 << 2;
/// Middle initial present.
pub const T_MIDDLE: u32 = 1 << 3;
/// Maiden name (the person's other records use the married name).
pub const T_MAIDEN: u32 = 1 << 4;
/// Hyphenated or double family name, written in some form.
pub const T_DOUBLE_NAME: u32 = 1 << 5;
/// Chinese name in Hanzi.
pub const T_HANZI: u32 = 1 << 6;
/// Name order reversed (given first for a Chinese name, or web-shop first/last swapped).
pub const T_NAME_ORDER: u32 = 1 << 7;
/// Glued romanized Chinese name (`WANGMing`, `LIJian`, `lijian`).
pub const T_GLUED: u32 = 1 << 8;
/// Name in capitals.
pub const T_CAPS: u32 = 1 << 9;
/// English name of a Chinese person (Kevin Wang for 王伟).
pub const T_ENGLISH_NAME: u32 = 1 << 10;
/// Chinese number without `+` (`13970198500`, `8613970198500`, `010-6552 1234`).
pub const T_CN_PHONE_FORM: u32 = 1 << 11;
/// Phone changed after a time (the record shows the old or the new one).
pub const T_NEW_PHONE: u32 = 1 << 12;
/// Household landline shared by the family.
pub const T_HOUSEHOLD_PHONE: u32 = 1 << 13;
/// Company switchboard number shared by unrelated employees.
pub const T_SWITCHBOARD: u32 = 1 << 14;
/// A number that belonged to another, unrelated person before.
pub const T_RECYCLED_PHONE: u32 = 1 << 15;
/// Generic name-derived e-mail (jsmith@gmail.com) that namesakes share.
pub const T_GENERIC_EMAIL: u32 = 1 << 16;
/// Family e-mail shared by a household.
pub const T_FAMILY_EMAIL: u32 = 1 << 17;
/// E-mail changed after a time.
pub const T_NEW_EMAIL: u32 = 1 << 18;
/// Same e-mail in another spelling (case, gmail dots, plus tag).
pub const T_EMAIL_VARIANT: u32 = 1 << 19;
/// Birth date typo (day/month swap or one digit).
pub const T_DATE_TYPO: u32 = 1 << 20;
/// Address from before or after a move.
pub const T_MOVED: u32 = 1 << 21;
/// Only a name and one contact point (or a name and a city).
pub const T_SPARSE: u32 = 1 << 22;
/// A second record of the person in the same source.
pub const T_SOURCE_DUPLICATE: u32 = 1 << 23;
/// Twin: same household and birth date as a sibling.
pub const T_TWIN: u32 = 1 << 24;
/// Father and son of the same name in one household (Jr.).
pub const T_JUNIOR: u32 = 1 << 25;
/// US phone in a form the region reads (`15676697381`, `(567) 669-7381`...), not E.164.
pub const T_US_PHONE_FORM: u32 = 1 << 26;
/// Chinese address in Hanzi.
pub const T_HANZI_ADDRESS: u32 = 1 << 27;

/// Tag names, bit by bit.
pub const TAG_NAMES: &[(u32, &str)] = &[
    (T_NICKNAME, "nickname"),
    (T_INITIAL, "initials"),
    (T_TYPO, "typo"),
    (T_MIDDLE, "middle initial"),
    (T_MAIDEN, "maiden name"),
    (T_DOUBLE_NAME, "double family name"),
    (T_HANZI, "hanzi name"),
    (T_NAME_ORDER, "name order"),
    (T_GLUED, "glued name"),
    (T_CAPS, "caps name"),
    (T_ENGLISH_NAME, "english name of cn person"),
    (T_CN_PHONE_FORM, "cn phone form"),
    (T_NEW_PHONE, "new phone"),
    (T_HOUSEHOLD_PHONE, "household phone"),
    (T_SWITCHBOARD, "switchboard"),
    (T_RECYCLED_PHONE, "recycled phone"),
    (T_GENERIC_EMAIL, "generic email"),
    (T_FAMILY_EMAIL, "family email"),
    (T_NEW_EMAIL, "new email"),
    (T_EMAIL_VARIANT, "email variant"),
    (T_DATE_TYPO, "date typo"),
    (T_MOVED, "moved"),
    (T_SPARSE, "sparse record"),
    (T_SOURCE_DUPLICATE, "duplicate in source"),
    (T_TWIN, "twin"),
    (T_JUNIOR, "junior"),
    (T_US_PHONE_FORM, "us phone form"),
    (T_HANZI_ADDRESS, "hanzi address"),
];

// ---------------------------------------------------------------------------------------------
// Name lists. Given names: most common first, nicknames after ':'.

const US_MALE: &str = "James:Jim,Jimmy,Jamie John:Johnny,Jack Robert:Bob,Rob,Bobby Michael:Mike \
William:Bill,Will,Billy David:Dave Richard:Rick,Rich,Dick Joseph:Joe,Joey Thomas:Tom,Tommy \
Charles:Charlie,Chuck Christopher:Chris Daniel:Dan,Danny Matthew:Matt Anthony:Tony Mark \
Donald:Don Steven:Steve Paul Andrew:Andy,Drew Joshua:Josh Kenneth:Ken,Kenny Kevin Brian \
George Timothy:Tim Ronald:Ron Edward:Ed,Eddie,Ted Jason Jeffrey:Jeff Ryan Jacob:Jake Gary \
Nicholas:Nick Eric Jonathan:Jon Stephen:Steve Larry Justin Scott Brandon Benjamin:Ben \
Samuel:Sam Gregory:Greg Alexander:Alex Frank Patrick:Pat Raymond:Ray Jack Dennis Jerry Tyler \
Aaron Jose Adam Nathan:Nate Henry:Hank Douglas:Doug Zachary:Zach Peter:Pete Kyle Ethan \
Walter:Walt Noah Jeremy Christian Keith Roger Terry Gerald:Jerry Harold:Harry Sean Austin \
Carl Arthur:Art Lawrence:Larry Dylan Jesse Jordan Bryan Bruce Gabriel:Gabe Logan Albert:Al \
Willie Alan Juan Wayne Elijah Randy Roy Vincent:Vince Ralph Eugene:Gene Russell:Russ Mason \
Philip:Phil Louis:Lou Harry Howard Frederick:Fred Victor:Vic Martin:Marty Ernest:Ernie Todd \
Craig Shawn Clarence Chad Luis Carlos Travis Jared Derek Curtis Leonard:Len Dale Manuel \
Rodney Theodore:Ted,Teddy Mitchell:Mitch Francis:Frank Stanley:Stan Leo Marcus Wesley:Wes \
Calvin:Cal Glenn Jimmy Allen Lucas Oscar Hunter Connor Isaac Evan Ian Owen Caleb Luke \
Cameron Max Miguel Jorge Antonio Ricardo Tony Jay Troy Lee Warren Dean Barry Marvin Ray";

const US_FEMALE: &str = "Mary:Molly Patricia:Pat,Patty,Trish Jennifer:Jen,Jenny Linda \
Elizabeth:Liz,Beth,Betty,Eliza Barbara:Barb Susan:Sue,Susie Jessica:Jess Sarah Karen Lisa \
Nancy Betty Margaret:Peggy,Maggie,Meg Sandra:Sandy Ashley Kimberly:Kim Emily Donna Michelle \
Carol Amanda:Mandy Dorothy:Dot,Dottie Melissa:Missy Deborah:Debbie,Deb Stephanie:Steph \
Rebecca:Becky Sharon Laura Cynthia:Cindy Kathleen:Kathy,Kate Amy Angela:Angie Shirley \
Anna:Annie Brenda Pamela:Pam Emma Nicole:Nikki Helen Samantha:Sam Katherine:Kate,Kathy,Katie \
Christine:Chris,Tina Debra:Debbie Rachel Carolyn Janet Catherine:Cathy,Kate Maria Heather \
Diane Ruth Julie Olivia Joyce Virginia:Ginny Victoria:Vicky,Tori Kelly Lauren \
Christina:Tina,Chris Joan Evelyn:Evie Judith:Judy Megan:Meg Andrea Cheryl Hannah \
Jacqueline:Jackie Martha Gloria Teresa:Terry Ann Sara Madison Frances:Fran Kathryn:Kathy \
Janice Jean Abigail:Abby Alice Judy Sophia Grace Denise Amber Doris Marilyn Danielle:Dani \
Beverly:Bev Isabella:Bella Theresa:Terry Diana Natalie Brittany Charlotte Marie Kayla Alexis \
Lori Carly Tracy Wendy Valerie:Val Veronica:Ronnie Jill Erin Gina Rose Tiffany Monica Stacy \
Dawn Holly Paula Tammy Melanie Courtney Leslie Rita Sylvia Vanessa Alicia Lily Chloe Caroline \
Jane Claire Ella Avery Mia Harper Ava Kristen Crystal Tara Renee Joanne Carmen Lucy Irene";

/// US family names, most common first (the US census order, roughly); frequencies are Zipf.
const US_FAMILY: &str = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez \
Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez \
Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott \
Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts \
Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales \
Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim \
Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price \
Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell \
Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan \
Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant \
Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison \
Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman \
Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz \
Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer \
Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn \
Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott \
Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry \
Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval \
Guerrero George Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler Valdez Harper Burke \
Larson Santiago Maldonado Morrison Franklin Carlson Austin Dominguez Carr Lawson Jacobs OBrien \
Lynch Singh Vega Bishop Montgomery Oliver Jensen Harvey Williamson Gilbert Dean Sims Espinoza \
Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch Rojas Lucas Marquez \
Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson \
Acosta Brewer May Holland Juarez Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett \
Navarro Figueroa Keller Avila Wade Molina Stanley Hopkins Campos Barnett Bates Chambers \
Caldwell Beck Lambert Miranda Byrd Craig Ayala Lowe Frazier Powers Neal Leonard Gregory \
Carrillo Sutton Fleming Rhodes Shelton Schwartz Norris Jennings Watts Duran Walters Cohen \
McDaniel Moran Parks Steele Vaughn Becker Holt Deleon Barker Terry Hale Leon Benson Haynes \
Horton Miles Lyons Pham Graves Bush Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman \
Dawson Lara Fletcher Page McCarthy Love Robles Cervantes Solis Erickson Reeves Chang Klein \
Salinas Fuentes Baldwin Daniel Simon Velasquez Hardy Higgins Aguirre Lin Cummings Chandler \
Sharp Barber Bowen Ochoa Dennis Robbins Liu Ramsey Francis Griffith Paul Blair OConnor \
Cardenas Pacheco Cross Calderon Quinn Moss Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald \
Rosales Stevenson Christensen Manning Gill Curry McLaughlin Harmon McGee Gross Doyle Garner \
Newton Burgess Reese Walton Blake Trujillo Adkins Brady Goodman Roman Webster Goodwin Fischer \
Huang Potter Delacruz Montoya Todd Wu Hines Mullins Castaneda Malone Cannon Tate Mack Sherman \
Hubbard Hodges Zhang Guerra Wolf Valencia Saunders Franco Rowe Gallagher Farmer Hammond \
Hampton Townsend Ingram Wise Gallegos Clarke Barton Schroeder Maxwell Waters Logan Camacho \
Strickland Norman Person Colon Parsons Frank Harrington Glover Osborne Buchanan Casey Floyd \
Patton Ibarra Ball Tyler Suarez Bowers Orozco Salas Cobb Gibbs Andrade Bauer Conner Moody \
Escobar McGuire Lloyd Mueller Hartman French Kramer McBride Pope Lindsey Velazquez Norton \
McCormick Sparks Flynn Yates Hogan Marsh Macias Villanueva Zamora Pratt Stokes Owen Ballard \
Lang Brock Villarreal Charles Drake Barrera Cain Patrick Pineda Burnett Mercado Santana \
Shepherd Bautista Ali Shaffer Lamb Trevino McKenzie Hess Olsen Cochran Morton Nash Wilkins \
Petersen Briggs Shah Roth Nicholson Holloway Lozano Flowers Rangel Hoover Arias Short Mora \
Valenzuela Bryan Meyers Weiss Underwood Bass Greer Summers Houston Carson Morrow Clayton \
Whitaker Decker Yoder Collier Zuniga Carey Wilcox Melendez Poole Roberson Larsen Conley \
Davenport Copeland Massey Lam Huff Rocha Cameron Jefferson Hood Monroe Anthony Pittman Huynh \
Randall Singleton Kirk Combs Mathis Christian Skinner Bradford Richard Galvan Wall Boone Kirby \
Wilkinson Bridges Bruce Atkinson Velez Meza Roy Vincent York Hodge Villa Abbott Allison Tapia \
Gates Chase Sosa Sweeney Farrell Wyatt Dalton Horn Barron Phelps Yu Dickerson Heath Foley \
Atkins Mathews Bonilla Acevedo Benitez Zavala Hensley Glenn Cisneros Harrell Shields Rubio \
Huffman Choi Boyer Garrison Arroyo Bond Kane Hancock Callahan Dillon Cline Wiggins Grimes \
Arellano Melton ONeill Savage Ho Beltran Pitts Parrish Ponce Rich Booth Koch Golden Ware \
Brennan McDowell Marks Cantu Humphrey Baxter Sawyer Clay Tanner Hutchinson Kaur Berg Wiley \
Gilmore Russo Villegas Hobbs Keith Wilkerson Ahmed Beard McClain Montes Mata Rosario Vang \
Walter Henson ONeal Mosley McClure Beasley Stephenson Snow Huerta Preston Vance Barry Johns \
Eaton Blackwell Dyer Prince Macdonald Solomon Guevara Stafford English Hurst Woodard Cortes \
Shannon Kemp Nolan McCullough Merritt Murillo Moon Salgado Strong Kline Cordova Barajas Roach \
Rosas Winters Jacobson Lester Knox Bullock Kerr Leach Meadows Orr Davila Whitehead Pruitt Kent \
Conway McKee Barr David Dejesus Marin Berger McIntyre Blankenship Gaines Palacios Cuevas \
Bartlett Durham Dorsey McCall ODonnell Stein Browning Stout Lowery Sloan McLean Hendricks \
Calhoun Sexton Chung Gentry Hull Duarte Ellison Nielsen Gillespie Buck Middleton Sellers \
Leblanc Esparza Hardin Bradshaw McIntosh Howe Livingston Frost Glass Morse Knapp Herman Stark \
Bravo Noble Spears Weeks Corona Frederick Buckley McFarland Hebert Enriquez Hickman Quintero \
Randolph Schaefer Walls Trejo House Reilly Pennington Michael Conrad Giles Benjamin Crosby \
Fitzpatrick Donovan Mays Mahoney Valentine Raymond Medrano Hahn McMillan Small Bentley Felix \
Peck Lucero Boyle Hanna Pace Rush Hurley Harding McConnell Bernal Nava Ayers Everett Ventura \
Avery Pugh Mayer Bender Shepard McMahon Landry Case Sampson Moses Magana Blackburn Dunlap \
Gould Duffy Vaughan Herring McKay Espinosa Rivers Farley Bernard Ashley Friedman Potts Truong \
Costa Correa Blevins Nixon Clements Fry Delarosa Best Benton Lugo Portillo Dougherty Crane \
Haley Phan Villalobos Blanchard Horne Finley Quintana Lynn Esquivel Bean Dodson Mullen Xiong \
Hayden Cano Levy Huber Richmond Moyer Lim Frye Sheppard McCarty Avalos Booker Waller Parra \
Woodward Jaramillo Krueger Rasmussen Brandt Peralta Donaldson Stuart Faulkner Maynard Galindo \
Coffey Estes Sanford Burch Maddox Vo OConnell Vu Andersen Spence McPherson Church Schmitt \
Stanton Leal Cherry Compton Dudley Sierra Pollard Alfaro Hester Proctor Lu Hinton Novak Good \
Madden McCann Terrell Jarvis Dickson Reyna Cantrell Mayo Branch Hendrix Rollins Rowland \
Whitney Duke Odom Daugherty Travis Tang Archer";

/// Chinese family names: (Hanzi, pinyin, weight per mille of the population, roughly).
/// Readings are the surname readings (曾 zeng, 单 shan, 解 xie, 查 zha, 仇 qiu, 区 ou, 朴 piao).
const CN_FAMILY: &[(&str, &str, u32)] = &[
    ("王", "Wang", 71),
    ("李", "Li", 70),
    ("张", "Zhang", 67),
    ("刘", "Liu", 54),
    ("陈", "Chen", 45),
    ("杨", "Yang", 31),
    ("黄", "Huang", 22),
    ("赵", "Zhao", 20),
    ("吴", "Wu", 20),
    ("周", "Zhou", 19),
    ("徐", "Xu", 14),
    ("孙", "Sun", 14),
    ("马", "Ma", 13),
    ("朱", "Zhu", 12),
    ("胡", "Hu", 11),
    ("郭", "Guo", 11),
    ("何", "He", 10),
    ("高", "Gao", 10),
    ("林", "Lin", 10),
    ("罗", "Luo", 9),
    ("郑", "Zheng", 9),
    ("梁", "Liang", 8),
    ("谢", "Xie", 7),
    ("宋", "Song", 6),
    ("唐", "Tang", 6),
    ("许", "Xu", 6),
    ("韩", "Han", 6),
    ("冯", "Feng", 6),
    ("邓", "Deng", 6),
    ("曹", "Cao", 5),
    ("彭", "Peng", 5),
    ("曾", "Zeng", 5),
    ("肖", "Xiao", 5),
    ("田", "Tian", 5),
    ("董", "Dong", 5),
    ("袁", "Yuan", 4),
    ("潘", "Pan", 4),
    ("于", "Yu", 4),
    ("蒋", "Jiang", 4),
    ("蔡", "Cai", 4),
    ("余", "Yu", 4),
    ("杜", "Du", 4),
    ("叶", "Ye", 4),
    ("程", "Cheng", 4),
    ("苏", "Su", 4),
    ("魏", "Wei", 4),
    ("丁", "Ding", 4),
    ("任", "Ren", 4),
    ("沈", "Shen", 4),
    ("姚", "Yao", 3),
    ("卢", "Lu", 3),
    ("姜", "Jiang", 3),
    ("崔", "Cui", 3),
    ("钟", "Zhong", 3),
    ("谭", "Tan", 3),
    ("陆", "Lu", 3),
    ("汪", "Wang", 3),
    ("范", "Fan", 3),
    ("金", "Jin", 3),
    ("石", "Shi", 3),
    ("廖", "Liao", 3),
    ("贾", "Jia", 3),
    ("夏", "Xia", 3),
    ("韦", "Wei", 3),
    ("付", "Fu", 2),
    ("方", "Fang", 2),
    ("白", "Bai", 2),
    ("邹", "Zou", 2),
    ("孟", "Meng", 2),
    ("熊", "Xiong", 2),
    ("秦", "Qin", 2),
    ("邱", "Qiu", 2),
    ("江", "Jiang", 2),
    ("尹", "Yin", 2),
    ("薛", "Xue", 2),
    ("闫", "Yan", 2),
    ("段", "Duan", 2),
    ("雷", "Lei", 2),
    ("侯", "Hou", 2),
    ("龙", "Long", 2),
    ("史", "Shi", 2),
    ("陶", "Tao", 2),
    ("黎", "Li", 2),
    ("贺", "He", 2),
    ("顾", "Gu", 2),
    ("毛", "Mao", 2),
    ("郝", "Hao", 2),
    ("龚", "Gong", 2),
    ("邵", "Shao", 2),
    ("万", "Wan", 2),
    ("钱", "Qian", 2),
    ("严", "Yan", 2),
    ("武", "Wu", 2),
    ("戴", "Dai", 2),
    ("覃", "Qin", 1),
    ("莫", "Mo", 1),
    ("孔", "Kong", 1),
    ("向", "Xiang", 1),
    ("汤", "Tang", 1),
    ("常", "Chang", 1),
    ("温", "Wen", 1),
    ("康", "Kang", 1),
    ("施", "Shi", 1),
    ("文", "Wen", 1),
    ("牛", "Niu", 1),
    ("樊", "Fan", 1),
    ("葛", "Ge", 1),
    ("邢", "Xing", 1),
    ("安", "An", 1),
    ("齐", "Qi", 1),
    ("易", "Yi", 1),
    ("乔", "Qiao", 1),
    ("伍", "Wu", 1),
    ("庞", "Pang", 1),
    ("颜", "Yan", 1),
    ("倪", "Ni", 1),
    ("庄", "Zhuang", 1),
    ("聂", "Nie", 1),
    ("章", "Zhang", 1),
    ("鲁", "Lu", 1),
    ("岳", "Yue", 1),
    ("翟", "Zhai", 1),
    ("殷", "Yin", 1),
    ("詹", "Zhan", 1),
    ("申", "Shen", 1),
    ("欧阳", "Ouyang", 1),
    ("耿", "Geng", 1),
    ("关", "Guan", 1),
    ("兰", "Lan", 1),
    ("焦", "Jiao", 1),
    ("俞", "Yu", 1),
    ("左", "Zuo", 1),
    ("柳", "Liu", 1),
    ("甘", "Gan", 1),
    ("祝", "Zhu", 1),
    ("包", "Bao", 1),
    ("宁", "Ning", 1),
    ("尚", "Shang", 1),
    ("符", "Fu", 1),
    ("舒", "Shu", 1),
    ("阮", "Ruan", 1),
    ("柯", "Ke", 1),
    ("纪", "Ji", 1),
    ("梅", "Mei", 1),
    ("童", "Tong", 1),
    ("凌", "Ling", 1),
    ("毕", "Bi", 1),
    ("单", "Shan", 1),
    ("季", "Ji", 1),
    ("裴", "Pei", 1),
    ("霍", "Huo", 1),
    ("涂", "Tu", 1),
    ("成", "Cheng", 1),
    ("苗", "Miao", 1),
    ("谷", "Gu", 1),
    ("盛", "Sheng", 1),
    ("翁", "Weng", 1),
    ("冉", "Ran", 1),
    ("骆", "Luo", 1),
    ("蓝", "Lan", 1),
    ("路", "Lu", 1),
    ("游", "You", 1),
    ("辛", "Xin", 1),
    ("靳", "Jin", 1),
    ("解", "Xie", 1),
    ("查", "Zha", 1),
    ("仇", "Qiu", 1),
    ("区", "Ou", 1),
    ("朴", "Piao", 1),
    ("司马", "Sima", 1),
    ("上官", "Shangguan", 1),
    ("诸葛", "Zhuge", 1),
];

/// One-character Chinese given names (Hanzi pinyin weight), most common first.
const CN_GIVEN_1: &str = "伟 wei 30 芳 fang 20 静 jing 25 敏 min 22 丽 li 20 强 qiang 20 \
磊 lei 18 军 jun 18 娜 na 18 洋 yang 15 勇 yong 15 艳 yan 15 杰 jie 15 娟 juan 12 涛 tao 12 \
明 ming 12 超 chao 12 霞 xia 10 平 ping 10 刚 gang 10 燕 yan 8 辉 hui 8 鹏 peng 8 华 hua 8 \
健 jian 8 斌 bin 7 宇 yu 7 浩 hao 7 凯 kai 6 琳 lin 6 婷 ting 6 雪 xue 6 颖 ying 6 慧 hui 6 \
玲 ling 6 波 bo 6 鑫 xin 6 峰 feng 6 亮 liang 6 红 hong 6 梅 mei 6 莉 li 5 飞 fei 5 欣 xin 5 \
佳 jia 5 倩 qian 5 晶 jing 5 阳 yang 5 博 bo 5 帅 shuai 4 丹 dan 4 萍 ping 4 荣 rong 4 \
坤 kun 3 琴 qin 3 云 yun 3 兰 lan 3 蕾 lei 3 雯 wen 3 岩 yan 3 林 lin 3 宁 ning 3 瑶 yao 3 \
旭 xu 3 昊 hao 3 晨 chen 3 楠 nan 3 悦 yue 3 薇 wei 3 洁 jie 3 蓉 rong 3 铭 ming 2 毅 yi 2 \
俊 jun 2 诚 cheng 2 振 zhen 2 东 dong 2 璐 lu 2 莹 ying 2 彤 tong 2 怡 yi 2 珊 shan 2 \
韬 tao 2 凡 fan 2 鸣 ming 2 玮 wei 2 琦 qi 2 晴 qing 2";

/// Common two-character given names (Hanzi, pinyin syllables), most common first.
const CN_GIVEN_2: &str = "秀英 xiu-ying 桂英 gui-ying 秀兰 xiu-lan 建华 jian-hua \
建国 jian-guo 志强 zhi-qiang 淑珍 shu-zhen 秀珍 xiu-zhen 玉兰 yu-lan 桂兰 gui-lan \
海燕 hai-yan 晓燕 xiao-yan 建平 jian-ping 小红 xiao-hong 志明 zhi-ming 子轩 zi-xuan \
梓涵 zi-han 浩然 hao-ran 欣怡 xin-yi 雨涵 yu-han 佳怡 jia-yi 国强 guo-qiang 建军 jian-jun \
丽娟 li-juan 文杰 wen-jie 海波 hai-bo 金凤 jin-feng 春梅 chun-mei 小明 xiao-ming \
晓东 xiao-dong 玉珍 yu-zhen 淑英 shu-ying 宇轩 yu-xuan 思远 si-yuan 嘉怡 jia-yi 俊杰 jun-jie";

/// First and second characters of other two-character given names.
const CN_GIVEN_FIRST: &str = "建 jian 志 zhi 国 guo 秀 xiu 晓 xiao 小 xiao 海 hai 文 wen \
玉 yu 永 yong 子 zi 金 jin 丽 li 春 chun 俊 jun 嘉 jia 雅 ya 思 si 欣 xin 佳 jia 明 ming \
宇 yu 浩 hao 家 jia 雨 yu 梓 zi 若 ruo 淑 shu 桂 gui 红 hong 美 mei 德 de 立 li 学 xue \
天 tian 新 xin 振 zhen 丹 dan 亚 ya 慧 hui 婉 wan 书 shu 博 bo 宏 hong 爱 ai 凤 feng 云 yun";
const CN_GIVEN_SECOND: &str = "华 hua 明 ming 英 ying 平 ping 军 jun 强 qiang 伟 wei \
芳 fang 兰 lan 红 hong 珍 zhen 萍 ping 玲 ling 杰 jie 涛 tao 峰 feng 辉 hui 林 lin 东 dong \
波 bo 斌 bin 豪 hao 轩 xuan 怡 yi 涵 han 琪 qi 婷 ting 丽 li 霞 xia 梅 mei 燕 yan 敏 min \
娟 juan 静 jing 刚 gang 勇 yong 飞 fei 龙 long 宇 yu 晨 chen 鹏 peng 艳 yan 荣 rong 云 yun \
洁 jie 琳 lin 欣 xin 然 ran 泽 ze 睿 rui 诚 cheng 成 cheng 生 sheng 莲 lian 秀 xiu 凤 feng \
娜 na 颖 ying 雪 xue";

/// English names Chinese people in the US adopt.
const ENGLISH_NAMES: &[&str] = &[
    "Kevin", "Jason", "Eric", "David", "Tony", "Michael", "Jack", "Vincent", "Grace", "Linda",
    "Amy", "Cindy", "Helen", "Jenny", "Emily", "Vivian", "Crystal", "Annie",
];

// ---------------------------------------------------------------------------------------------
// Places.

/// US cities: (city, state, first zip, population weight, area codes, Chinese community).
type UsCity = (&'static str, &'static str, u32, u32, &'static [u16], bool);
const US_CITIES: &[UsCity] = &[
    ("New York", "NY", 10001, 80, &[212, 646, 917], true),
    ("Brooklyn", "NY", 11201, 30, &[718, 347, 929], true),
    ("Flushing", "NY", 11354, 10, &[718, 347], true),
    ("Los Angeles", "CA", 90001, 40, &[213, 323, 310, 818], true),
    ("Chicago", "IL", 60601, 27, &[312, 773, 872], true),
    ("Houston", "TX", 77001, 23, &[713, 281, 832], true),
    ("Phoenix", "AZ", 85001, 16, &[602, 480, 623], false),
    ("Philadelphia", "PA", 19102, 15, &[215, 267], false),
    ("San Antonio", "TX", 78201, 15, &[210, 726], false),
    ("San Diego", "CA", 92101, 14, &[619, 858], true),
    ("Dallas", "TX", 75201, 13, &[214, 469, 972], false),
    ("San Jose", "CA", 95110, 10, &[408, 669], true),
    ("Austin", "TX", 78701, 10, &[512, 737], false),
    ("Jacksonville", "FL", 32202, 9, &[904], false),
    ("Columbus", "OH", 43004, 9, &[614, 380], false),
    ("Charlotte", "NC", 28202, 9, &[704, 980], false),
    ("San Francisco", "CA", 94102, 9, &[415, 628], true),
    ("Indianapolis", "IN", 46201, 9, &[317], false),
    ("Seattle", "WA", 98101, 8, &[206], true),
    ("Denver", "CO", 80202, 7, &[303, 720], false),
    ("Boston", "MA", 2108, 7, &[617, 857], true),
    ("Nashville", "TN", 37201, 7, &[615, 629], false),
    ("Detroit", "MI", 48201, 6, &[313], false),
    ("Portland", "OR", 97201, 6, &[503, 971], false),
    ("Las Vegas", "NV", 89101, 6, &[702, 725], false),
    ("Atlanta", "GA", 30303, 5, &[404, 678, 470], false),
    ("Miami", "FL", 33101, 5, &[305, 786], false),
    ("Minneapolis", "MN", 55401, 4, &[612], false),
    ("Toledo", "OH", 43604, 3, &[419, 567], false),
    ("Fremont", "CA", 94536, 3, &[510], true),
    ("Irvine", "CA", 92602, 3, &[949], true),
    ("Sugar Land", "TX", 77478, 2, &[281, 832], true),
    ("Edison", "NJ", 8817, 2, &[732, 848], true),
    ("Plano", "TX", 75023, 3, &[972, 469], false),
    ("Bellevue", "WA", 98004, 2, &[425], true),
    ("Pittsburgh", "PA", 15222, 3, &[412], false),
    ("Cleveland", "OH", 44113, 3, &[216], false),
];

const US_STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Walnut",
    "Sunset",
    "Lincoln",
    "Jackson",
    "Church",
    "River",
    "Highland",
    "Madison",
    "Jefferson",
    "Franklin",
    "Forest",
    "Spring",
    "Willow",
    "Meadow",
    "Ridge",
    "Valley",
    "Center",
    "Chestnut",
    "Mill",
    "Cherry",
    "Dogwood",
    "Hickory",
    "Birch",
    "Adams",
    "Lakeview",
    "Sycamore",
    "Union",
    "Broadway",
    "Market",
    "Liberty",
    "Prospect",
    "Grove",
    "Front",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Hillcrest",
    "Woodland",
    "Cherry Hill",
    "Green",
    "Orchard",
    "College",
    "School",
    "Water",
    "Bridge",
    "Railroad",
    "Academy",
];

/// Street types: (full, abbreviation).
const US_SUFFIXES: &[(&str, &str)] = &[
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Road", "Rd"),
    ("Drive", "Dr"),
    ("Lane", "Ln"),
    ("Boulevard", "Blvd"),
    ("Court", "Ct"),
    ("Place", "Pl"),
    ("Way", "Way"),
];

/// Chinese cities: (Hanzi, pinyin, first postcode, weight, landline area code, districts).
type CnCity = (
    &'static str,
    &'static str,
    u32,
    u32,
    &'static str,
    &'static [(&'static str, &'static str)],
);
const CN_CITIES: &[CnCity] = &[
    (
        "北京",
        "Beijing",
        100000,
        22,
        "10",
        &[
            ("朝阳区", "Chaoyang"),
            ("海淀区", "Haidian"),
            ("东城区", "Dongcheng"),
            ("西城区", "Xicheng"),
            ("丰台区", "Fengtai"),
        ],
    ),
    (
        "上海",
        "Shanghai",
        200000,
        25,
        "21",
        &[
            ("浦东新区", "Pudong"),
            ("徐汇区", "Xuhui"),
            ("静安区", "Jingan"),
            ("黄浦区", "Huangpu"),
            ("闵行区", "Minhang"),
        ],
    ),
    (
        "广州",
        "Guangzhou",
        510000,
        18,
        "20",
        &[
            ("天河区", "Tianhe"),
            ("越秀区", "Yuexiu"),
            ("海珠区", "Haizhu"),
            ("白云区", "Baiyun"),
        ],
    ),
    (
        "深圳",
        "Shenzhen",
        518000,
        17,
        "755",
        &[
            ("南山区", "Nanshan"),
            ("福田区", "Futian"),
            ("罗湖区", "Luohu"),
            ("宝安区", "Baoan"),
        ],
    ),
    (
        "成都",
        "Chengdu",
        610000,
        14,
        "28",
        &[
            ("锦江区", "Jinjiang"),
            ("武侯区", "Wuhou"),
            ("青羊区", "Qingyang"),
        ],
    ),
    (
        "杭州",
        "Hangzhou",
        310000,
        11,
        "571",
        &[
            ("西湖区", "Xihu"),
            ("上城区", "Shangcheng"),
            ("滨江区", "Binjiang"),
        ],
    ),
    (
        "武汉",
        "Wuhan",
        430000,
        11,
        "27",
        &[
            ("武昌区", "Wuchang"),
            ("江汉区", "Jianghan"),
            ("洪山区", "Hongshan"),
        ],
    ),
    (
        "南京",
        "Nanjing",
        210000,
        9,
        "25",
        &[
            ("鼓楼区", "Gulou"),
            ("玄武区", "Xuanwu"),
            ("秦淮区", "Qinhuai"),
        ],
    ),
    (
        "西安",
        "Xian",
        710000,
        9,
        "29",
        &[("雁塔区", "Yanta"), ("碑林区", "Beilin")],
    ),
    (
        "重庆",
        "Chongqing",
        400000,
        16,
        "23",
        &[("渝中区", "Yuzhong"), ("江北区", "Jiangbei")],
    ),
    (
        "天津",
        "Tianjin",
        300000,
        12,
        "22",
        &[("和平区", "Heping"), ("南开区", "Nankai")],
    ),
    (
        "苏州",
        "Suzhou",
        215000,
        8,
        "512",
        &[("姑苏区", "Gusu"), ("吴中区", "Wuzhong")],
    ),
    (
        "长沙",
        "Changsha",
        410000,
        7,
        "731",
        &[("岳麓区", "Yuelu"), ("芙蓉区", "Furong")],
    ),
    (
        "郑州",
        "Zhengzhou",
        450000,
        8,
        "371",
        &[("金水区", "Jinshui"), ("二七区", "Erqi")],
    ),
    (
        "青岛",
        "Qingdao",
        266000,
        6,
        "532",
        &[("市南区", "Shinan"), ("崂山区", "Laoshan")],
    ),
];

/// Chinese roads: (Hanzi without 路/街/大道, pinyin, type Hanzi, type pinyin full, abbreviation).
const CN_ROADS: &[(&str, &str, &str, &str, &str)] = &[
    ("建国", "Jianguo", "路", "Road", "Rd"),
    ("人民", "Renmin", "路", "Road", "Rd"),
    ("中山", "Zhongshan", "路", "Road", "Rd"),
    ("解放", "Jiefang", "路", "Road", "Rd"),
    ("南京", "Nanjing", "路", "Road", "Rd"),
    ("和平", "Heping", "路", "Road", "Rd"),
    ("文化", "Wenhua", "路", "Road", "Rd"),
    ("新华", "Xinhua", "路", "Road", "Rd"),
    ("光明", "Guangming", "路", "Road", "Rd"),
    ("幸福", "Xingfu", "路", "Road", "Rd"),
    ("学院", "Xueyuan", "路", "Road", "Rd"),
    ("东风", "Dongfeng", "路", "Road", "Rd"),
    ("青年", "Qingnian", "路", "Road", "Rd"),
    ("滨江", "Binjiang", "路", "Road", "Rd"),
    ("科技", "Keji", "路", "Road", "Rd"),
    ("世纪", "Shiji", "大道", "Avenue", "Ave"),
    ("迎宾", "Yingbin", "大道", "Avenue", "Ave"),
    ("平安", "Pingan", "街", "Street", "St"),
    ("花园", "Huayuan", "街", "Street", "St"),
    ("民生", "Minsheng", "路", "Road", "Rd"),
];

/// Words of company names.
const COMPANY_WORDS: &[&str] = &[
    "Summit",
    "Pioneer",
    "Liberty",
    "Apex",
    "Evergreen",
    "Horizon",
    "Cascade",
    "Keystone",
    "Sterling",
    "Atlas",
    "Beacon",
    "Frontier",
    "Harbor",
    "Northstar",
    "Redwood",
    "Granite",
    "Meridian",
    "Vertex",
    "Bluewater",
    "Ironwood",
    "Lakeside",
    "Riverside",
    "Premier",
    "United",
];
const COMPANY_KINDS: &[&str] = &[
    "Logistics",
    "Health",
    "Systems",
    "Foods",
    "Financial",
    "Medical Center",
    "Insurance",
    "Partners",
    "Manufacturing",
    "Software",
    "Energy",
    "Retail",
    "Consulting",
    "University",
];
const COMPANY_FORMS: &[&str] = &["Inc", "Inc.", "LLC", "Corp", "Co", "Group", ""];
const CN_COMPANY_WORDS: &[(&str, &str)] = &[
    ("华兴", "Huaxing"),
    ("宏达", "Hongda"),
    ("东方", "Dongfang"),
    ("金鼎", "Jinding"),
    ("新世纪", "Xinshiji"),
    ("恒信", "Hengxin"),
    ("瑞丰", "Ruifeng"),
    ("天成", "Tiancheng"),
];
const CN_COMPANY_KINDS: &[(&str, &str)] = &[
    ("科技", "Technology"),
    ("贸易", "Trading"),
    ("电子", "Electronics"),
    ("医药", "Pharmaceutical"),
    ("建设", "Construction"),
];

const BIG_PROVIDERS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "aol.com",
];
const ISP_PROVIDERS: &[&str] = &[
    "comcast.net",
    "att.net",
    "verizon.net",
    "icloud.com",
    "msn.com",
];
const CN_PROVIDERS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "139.com",
];

/// Valid Chinese mobile prefixes (three digits).
const CN_MOBILE_PREFIXES: &[u16] = &[
    130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159, 166,
    176, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 198, 199,
];

// ---------------------------------------------------------------------------------------------
// Random numbers.

/// Deterministic generator (xorshift64*, seeded through splitmix64).
pub struct Rng(u64);

impl Rng {
    /// A generator for this seed.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 11) % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }
    /// True with probability `p` (0..1).
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Cumulative weights for drawing by weight.
struct Weighted(Vec<u64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut acc = 0;
        Weighted(
            weights
                .into_iter()
                .map(|w| {
                    acc += w;
                    acc
                })
                .collect(),
        )
    }
    /// Zipf-like weights `1 / (rank + offset)^s` for `n` ranks.
    fn zipf(n: usize, offset: f64, s: f64) -> Self {
        Self::new((0..n).map(|r| (1e9 / (r as f64 + 1.0 + offset).powf(s)) as u64 + 1))
    }
    fn draw(&self, rng: &mut Rng) -> usize {
        let total = *self.0.last().unwrap_or(&1);
        let x = rng.next() % total;
        self.0.partition_point(|&c| c <= x)
    }
}

// ---------------------------------------------------------------------------------------------
// The people.

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Country {
    Us,
    Cn,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Phone {
    country: Country,
    /// National significant number: 10 digits (US) or 11 (CN mobile) or area + 8 (CN landline).
    number: String,
    /// CN landline area code length (0 for mobiles and US numbers).
    area_len: usize,
}

#[derive(Clone, Debug)]
enum Address {
    Us {
        number: u32,
        street: usize,
        suffix: usize,
        apt: Option<u32>,
        city: usize,
        zip: u32,
    },
    Cn {
        city: usize,
        district: usize,
        road: usize,
        number: u32,
        flat: Option<(u32, u32)>,
        postcode: u32,
    },
}

#[derive(Clone, Debug)]
enum Name {
    Us {
        given: usize,
        female: bool,
        middle: Option<char>,
        family: String,
        /// Second part of a double family name (Garcia-Lopez).
        second: Option<String>,
        /// Family name before marriage.
        maiden: Option<String>,
        junior: bool,
    },
    Cn {
        family: usize,
        given_han: String,
        /// Pinyin syllables of the given name, lower case.
        given_syl: Vec<String>,
        english: Option<&'static str>,
    },
}

#[derive(Clone, Debug)]
struct Household {
    address: Address,
    /// Address after a move, and the year of the move.
    moved: Option<(Address, f64)>,
    landline: Option<Phone>,
    email: Option<String>,
}

#[derive(Clone, Debug)]
struct Person {
    name: Name,
    household: u32,
    /// Own address instead of the household's (an adult child living elsewhere).
    own_address: Option<Address>,
    dob: (u32, u32, u32),
    twin: bool,
    mobile: Phone,
    /// New mobile and the year it came.
    new_mobile: Option<(Phone, f64)>,
    /// The mobile was someone else's before (their person index).
    recycled_from: Option<u32>,
    email: Option<String>,
    /// The personal e-mail is generic (initial + surname at a big provider).
    generic_email: bool,
    new_email: Option<(String, f64)>,
    employer: Option<usize>,
}

struct Company {
    cn: bool,
    name: String,
    switchboard: Phone,
}

struct Lists {
    us_male: Vec<(String, Vec<String>)>,
    us_female: Vec<(String, Vec<String>)>,
    us_family: Vec<String>,
    male_w: Weighted,
    female_w: Weighted,
    family_w: Weighted,
    cn_family_w: Weighted,
    cn1: Vec<(String, String)>,
    cn1_w: Weighted,
    cn2: Vec<(String, Vec<String>)>,
    cn2_w: Weighted,
    cn_first: Vec<(String, String)>,
    cn_first_w: Weighted,
    cn_second: Vec<(String, String)>,
    cn_second_w: Weighted,
    us_city_w: Weighted,
    us_city_cn_w: Weighted,
    cn_city_w: Weighted,
    street_w: Weighted,
}

fn given_list(s: &str) -> Vec<(String, Vec<String>)> {
    let mut seen = std::collections::HashSet::new();
    s.split_whitespace()
        .filter_map(|t| {
            let (name, nicks) = t.split_once(':').unwrap_or((t, ""));
            seen.insert(name.to_string()).then(|| {
                (
                    name.to_string(),
                    nicks
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(String::from)
                        .collect(),
                )
            })
        })
        .collect()
}

fn triples(s: &str) -> Vec<(String, String, u64)> {
    let t: Vec<&str> = s.split_whitespace().collect();
    t.chunks(3)
        .map(|c| (c[0].to_string(), c[1].to_string(), c[2].parse().unwrap()))
        .collect()
}

fn pairs(s: &str) -> Vec<(String, String)> {
    let t: Vec<&str> = s.split_whitespace().collect();
    t.chunks(2)
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect()
}

impl Lists {
    fn new() -> Self {
        let us_male = given_list(US_MALE);
        let us_female = given_list(US_FEMALE);
        let mut seen = std::collections::HashSet::new();
        let us_family: Vec<String> = US_FAMILY
            .split_whitespace()
            .filter(|s| seen.insert(*s))
            .map(String::from)
            .collect();
        let cn1 = triples(CN_GIVEN_1);
        let cn2: Vec<(String, Vec<String>)> = pairs(CN_GIVEN_2)
            .into_iter()
            .map(|(h, p)| (h, p.split('-').map(String::from).collect()))
            .collect();
        let cn_first = pairs(CN_GIVEN_FIRST);
        let cn_second = pairs(CN_GIVEN_SECOND);
        Lists {
            // The most common given name is about 3% of its sex, the most common family name
            // about 3% of everyone: a long tail, and many namesakes at scale.
            male_w: Weighted::zipf(us_male.len(), 8.0, 1.0),
            female_w: Weighted::zipf(us_female.len(), 8.0, 1.0),
            family_w: Weighted::zipf(us_family.len(), 4.0, 1.0),
            cn_family_w: Weighted::new(CN_FAMILY.iter().map(|f| f.2 as u64)),
            cn1_w: Weighted::new(cn1.iter().map(|c| c.2)),
            cn2_w: Weighted::zipf(cn2.len(), 3.0, 1.0),
            cn_first_w: Weighted::zipf(cn_first.len(), 5.0, 0.8),
            cn_second_w: Weighted::zipf(cn_second.len(), 5.0, 0.8),
            us_city_w: Weighted::new(US_CITIES.iter().map(|c| c.3 as u64)),
            us_city_cn_w: Weighted::new(US_CITIES.iter().map(|c| if c.5 { c.3 as u64 } else { 0 })),
            cn_city_w: Weighted::new(CN_CITIES.iter().map(|c| c.3 as u64)),
            street_w: Weighted::zipf(US_STREETS.len(), 5.0, 1.0),
            cn1: cn1.into_iter().map(|(h, p, _)| (h, p)).collect(),
            cn2,
            cn_first,
            cn_second,
            us_male,
            us_female,
            us_family,
        }
    }
}

/// Every Hanzi / pinyin pair the generator writes (family names and given-name characters),
/// for checking the pinyin against the engine's readings.
pub fn hanzi_readings() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = CN_FAMILY
        .iter()
        .map(|f| (f.0.to_string(), f.1.to_lowercase()))
        .collect();
    for (h, p, _) in triples(CN_GIVEN_1) {
        out.push((h, p));
    }
    for (h, p) in pairs(CN_GIVEN_2) {
        out.push((h, p.replace('-', "")));
    }
    out.extend(pairs(CN_GIVEN_FIRST));
    out.extend(pairs(CN_GIVEN_SECOND));
    out
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The feed.

/// One generated record.
pub struct Record {
    /// Index into [`SOURCES`].
    pub source: usize,
    /// Record key (unique over all sources).
    pub key: String,
    /// True person (index into the people).
    pub person: u32,
    /// Phenomena the record shows (`T_*` bits).
    pub tags: u32,
    /// Field values by the source's field path (`name.first` for nested JSON).
    pub fields: Vec<(&'static str, String)>,
}

/// What the scorer needs to know about a person.
pub struct PersonInfo {
    /// Household.
    pub household: u32,
    /// Normalized full name: lower-case pinyin / English given and family name.
    pub name: String,
    /// Employer (company index), if any.
    pub employer: Option<usize>,
    /// The person whose old number this person's mobile is.
    pub recycled_from: Option<u32>,
    /// The generic e-mail the person uses, if any.
    pub generic_email: Option<String>,
    /// Name is Chinese.
    pub chinese: bool,
}

/// A generated feed.
pub struct Feed {
    /// Records, grouped by source in [`SOURCES`] order.
    pub records: Vec<Record>,
    /// The people.
    pub people: Vec<PersonInfo>,
}

const CRM_COLUMNS: &[&str] = &[
    "customer_id",
    "full_name",
    "email",
    "phone",
    "birth_date",
    "street",
    "city",
    "zip",
    "employer",
    "last_modified",
];
const SUPPORT_COLUMNS: &[&str] = &["contact_id", "name", "email", "phone", "dob", "city"];

struct Gen {
    rng: Rng,
    lists: Lists,
    people: Vec<Person>,
    households: Vec<Household>,
    companies: Vec<Company>,
    company_w: Weighted,
    /// Numbers given up by their owners, by country: (number, old owner).
    released: Vec<(Phone, u32)>,
}

/// Generates `people` people and their records in the three sources, deterministically.
pub fn generate(people: usize, seed: u64) -> Feed {
    let mut rng = Rng::new(seed);
    let lists = Lists::new();
    let n_companies = (people / 60).max(5);
    let mut companies = Vec::with_capacity(n_companies);
    for _ in 0..n_companies {
        let cn = rng.chance(0.4);
        let name = if cn {
            let (wh, wp) = rng.pick(CN_COMPANY_WORDS);
            let (kh, kp) = rng.pick(CN_COMPANY_KINDS);
            let city = &CN_CITIES[lists.cn_city_w.draw(&mut rng)];
            if rng.chance(0.5) {
                format!("{}{wh}{kh}有限公司", city.0)
            } else {
                format!("{} {wp} {kp} Co., Ltd.", city.1)
            }
        } else {
            let form = rng.pick(COMPANY_FORMS);
            let base = if rng.chance(0.3) {
                let f = &lists.us_family[lists.family_w.draw(&mut rng)];
                format!("{f} {}", rng.pick(COMPANY_KINDS))
            } else {
                format!("{} {}", rng.pick(COMPANY_WORDS), rng.pick(COMPANY_KINDS))
            };
            format!("{base} {form}").trim().to_string()
        };
        let switchboard = if cn {
            cn_landline(&mut rng, &lists)
        } else {
            us_number(&mut rng, &lists, None)
        };
        companies.push(Company {
            cn,
            name,
            switchboard,
        });
    }
    // A few employers have hundreds of employees (hospitals, retailers), most a handful.
    let company_w = Weighted::zipf(n_companies, 2.0, 1.1);
    let mut g = Gen {
        rng,
        lists,
        people: Vec::with_capacity(people),
        households: Vec::new(),
        companies,
        company_w,
        released: Vec::new(),
    };
    while g.people.len() < people {
        g.household(people);
    }
    g.records()
}

fn us_number(rng: &mut Rng, lists: &Lists, city: Option<usize>) -> Phone {
    let city = city.unwrap_or_else(|| lists.us_city_w.draw(rng));
    let area = *rng.pick(US_CITIES[city].4);
    let exchange = loop {
        let e = rng.range(201, 999);
        if e % 100 != 11 && e != 555 {
            break e;
        }
    };
    Phone {
        country: Country::Us,
        number: format!("{area}{exchange}{:04}", rng.below(10_000)),
        area_len: 0,
    }
}

fn cn_mobile(rng: &mut Rng) -> Phone {
    Phone {
        country: Country::Cn,
        number: format!(
            "{}{:08}",
            rng.pick(CN_MOBILE_PREFIXES),
            rng.below(100_000_000)
        ),
        area_len: 0,
    }
}

fn cn_landline(rng: &mut Rng, lists: &Lists) -> Phone {
    let city = &CN_CITIES[lists.cn_city_w.draw(rng)];
    let digits = if city.4.len() == 2 { 8 } else { 7 };
    let first = rng.range(2, 8);
    let rest = rng.below(10usize.pow(digits - 1));
    Phone {
        country: Country::Cn,
        number: format!("{}{first}{rest:0w$}", city.4, w = digits as usize - 1),
        area_len: city.4.len(),
    }
}

impl Gen {
    fn dob(&mut self, lo: u32, hi: u32) -> (u32, u32, u32) {
        (
            self.rng.range(lo, hi),
            self.rng.range(1, 12),
            self.rng.range(1, 28),
        )
    }

    fn us_address(&mut self, chinese: bool) -> Address {
        let city = if chinese {
            self.lists.us_city_cn_w.draw(&mut self.rng)
        } else {
            self.lists.us_city_w.draw(&mut self.rng)
        };
        Address::Us {
            number: if self.rng.chance(0.7) {
                self.rng.range(1, 999)
            } else {
                self.rng.range(1000, 19999)
            },
            street: self.lists.street_w.draw(&mut self.rng),
            suffix: self.rng.below(US_SUFFIXES.len()),
            apt: self
                .rng
                .chance(0.3)
                .then(|| self.rng.range(1, 40) * 100 + self.rng.range(1, 20)),
            city,
            zip: US_CITIES[city].2 + self.rng.range(0, 40),
        }
    }

    fn cn_address(&mut self) -> Address {
        let city = self.lists.cn_city_w.draw(&mut self.rng);
        let district = self.rng.below(CN_CITIES[city].5.len());
        Address::Cn {
            city,
            district,
            road: self.rng.below(CN_ROADS.len()),
            number: self.rng.range(1, 399),
            flat: self.rng.chance(0.7).then(|| {
                (
                    self.rng.range(1, 6),
                    self.rng.range(1, 30) * 100 + self.rng.range(1, 4),
                )
            }),
            postcode: CN_CITIES[city].2 + district as u32 * 10 + self.rng.range(0, 9) * 100,
        }
    }

    fn us_given(&mut self, female: bool) -> usize {
        if female {
            self.lists.female_w.draw(&mut self.rng)
        } else {
            self.lists.male_w.draw(&mut self.rng)
        }
    }

    fn us_family(&mut self) -> String {
        self.lists.us_family[self.lists.family_w.draw(&mut self.rng)].clone()
    }

    fn cn_given(&mut self) -> (String, Vec<String>) {
        let r = self.rng.below(100);
        if r < 35 {
            let (h, p) = &self.lists.cn1[self.lists.cn1_w.draw(&mut self.rng)];
            (h.clone(), vec![p.clone()])
        } else if r < 60 {
            self.lists.cn2[self.lists.cn2_w.draw(&mut self.rng)].clone()
        } else {
            let (h1, p1) = &self.lists.cn_first[self.lists.cn_first_w.draw(&mut self.rng)];
            let (h2, p2) = &self.lists.cn_second[self.lists.cn_second_w.draw(&mut self.rng)];
            (format!("{h1}{h2}"), vec![p1.clone(), p2.clone()])
        }
    }

    /// A fresh mobile for a person of this country, sometimes a recycled one.
    fn mobile(&mut self, country: Country, city: Option<usize>) -> (Phone, Option<u32>) {
        if self.rng.chance(0.05) {
            if let Some(i) = (0..self.released.len().min(64))
                .map(|k| self.released.len() - 1 - k)
                .find(|&i| self.released[i].0.country == country)
            {
                let (p, owner) = self.released.swap_remove(i);
                return (p, Some(owner));
            }
        }
        let p = match country {
            Country::Us => us_number(&mut self.rng, &self.lists, city),
            Country::Cn => cn_mobile(&mut self.rng),
        };
        (p, None)
    }

    fn email_for(
        &mut self,
        given: &str,
        family: &str,
        chinese: bool,
        in_china: bool,
    ) -> (String, bool) {
        let g = given.to_lowercase();
        let f = family.to_lowercase().replace(['-', ' '], "");
        let r = self.rng.below(100);
        let initial = g.chars().next().unwrap_or('x');
        // Generic addresses: initial + surname, or the whole name, at a big provider, no digits.
        if r < 10 {
            let dom = if in_china && chinese {
                *self.rng.pick(CN_PROVIDERS)
            } else {
                BIG_PROVIDERS[self.rng.below(3)]
            };
            let local = if chinese && self.rng.chance(0.6) {
                format!("{f}{g}")
            } else {
                format!("{initial}{f}")
            };
            return (format!("{local}@{dom}"), true);
        }
        let dom = if in_china && chinese {
            *self.rng.pick(CN_PROVIDERS)
        } else if self.rng.chance(0.8) {
            *self.rng.pick(BIG_PROVIDERS)
        } else {
            *self.rng.pick(ISP_PROVIDERS)
        };
        let n = self.rng.range(1, 999);
        let qq_number = dom == "qq.com" && self.rng.chance(0.7);
        let local = match self.rng.below(6) {
            _ if qq_number => format!("{}", self.rng.range(10_000_000, 2_999_999_999)),
            0 => format!("{g}.{f}{n}"),
            1 => format!("{g}{f}{n}"),
            2 => format!("{initial}{f}{n}"),
            3 => format!("{g}_{f}{}", self.rng.range(60, 99)),
            4 => format!("{f}.{g}{n}"),
            _ => format!("{g}{initial}{f}{n}"),
        };
        (format!("{local}@{dom}"), false)
    }

    /// Creates one household and its members (at most `limit` people in all).
    fn household(&mut self, limit: usize) {
        let chinese = self.rng.chance(0.6);
        let in_china = chinese && self.rng.chance(0.8);
        let country = if in_china { Country::Cn } else { Country::Us };
        let address = if in_china {
            self.cn_address()
        } else {
            self.us_address(chinese)
        };
        let moved = self.rng.chance(0.18).then(|| {
            let a = if in_china {
                self.cn_address()
            } else if self.rng.chance(0.6) {
                // Often a move within the same city.
                match self.us_address(chinese) {
                    Address::Us {
                        number,
                        street,
                        suffix,
                        apt,
                        ..
                    } => {
                        let Address::Us { city, zip, .. } = address else {
                            unreachable!()
                        };
                        Address::Us {
                            number,
                            street,
                            suffix,
                            apt,
                            city,
                            zip: zip + self.rng.range(0, 3),
                        }
                    }
                    a => a,
                }
            } else {
                self.us_address(chinese)
            };
            (a, 2016.0 + self.rng.below(900) as f64 / 100.0)
        });
        let size = match self.rng.below(100) {
            0..=54 => 1,
            55..=79 => 2,
            80..=91 => 3,
            _ => 4,
        };
        let landline = (size > 1 && self.rng.chance(0.45) || size == 1 && self.rng.chance(0.1))
            .then(|| {
                if in_china {
                    cn_landline(&mut self.rng, &self.lists)
                } else {
                    let city = match address {
                        Address::Us { city, .. } => Some(city),
                        _ => None,
                    };
                    us_number(&mut self.rng, &self.lists, city)
                }
            });
        let hid = self.households.len() as u32;
        let first = self.people.len();
        // Head and spouse, then children.
        let head_female = self.rng.chance(0.5);
        let head_dob = self.dob(1940, 1990);
        for m in 0..size {
            if self.people.len() >= limit {
                break;
            }
            let (female, dob, twin) = match m {
                0 => (head_female, head_dob, false),
                1 => {
                    let y = (head_dob.0 as i32 + self.rng.range(0, 10) as i32 - 5).clamp(1935, 1995)
                        as u32;
                    (
                        !head_female,
                        (y, self.rng.range(1, 12), self.rng.range(1, 28)),
                        false,
                    )
                }
                _ => {
                    let prev = &self.people[self.people.len() - 1];
                    if m == 3 && self.rng.chance(0.25) {
                        (self.rng.chance(0.5), prev.dob, true)
                    } else {
                        let y = (head_dob.0 + self.rng.range(22, 36)).min(2006);
                        (
                            self.rng.chance(0.5),
                            (y, self.rng.range(1, 12), self.rng.range(1, 28)),
                            false,
                        )
                    }
                }
            };
            let name = if chinese {
                // Chinese wives keep their family name.
                let family = if m <= 1 {
                    self.lists.cn_family_w.draw(&mut self.rng)
                } else {
                    // Children take the father's family name.
                    let father = if head_female && size > 1 {
                        first + 1
                    } else {
                        first
                    };
                    match &self.people.get(father).map(|p| &p.name) {
                        Some(Name::Cn { family, .. }) => *family,
                        _ => self.lists.cn_family_w.draw(&mut self.rng),
                    }
                };
                let (given_han, given_syl) = self.cn_given();
                let english =
                    (!in_china && self.rng.chance(0.3)).then(|| *self.rng.pick(ENGLISH_NAMES));
                Name::Cn {
                    family,
                    given_han,
                    given_syl,
                    english,
                }
            } else {
                let head_family = match self.people.get(first).map(|p| &p.name) {
                    Some(Name::Us { family, .. }) => Some(family.clone()),
                    _ => None,
                };
                let family = match head_family {
                    Some(f) if m >= 1 && (m >= 2 || self.rng.chance(0.8)) => f,
                    _ => self.us_family(),
                };
                // Father and son of the same name.
                let junior_of = (m == 2 && !female && self.rng.chance(0.08))
                    .then(|| {
                        let father = if head_female { first + 1 } else { first };
                        match self.people.get(father).map(|p| &p.name) {
                            Some(Name::Us {
                                given,
                                female: false,
                                ..
                            }) => Some(*given),
                            _ => None,
                        }
                    })
                    .flatten();
                let given = junior_of.unwrap_or_else(|| self.us_given(female));
                let second = self.rng.chance(0.03).then(|| self.us_family());
                let maiden = (female && m == 1 && self.rng.chance(0.5)).then(|| self.us_family());
                Name::Us {
                    given,
                    female,
                    middle: self
                        .rng
                        .chance(0.35)
                        .then(|| (b'A' + self.rng.below(26) as u8) as char),
                    family,
                    second,
                    maiden,
                    junior: junior_of.is_some(),
                }
            };
            let pid = self.people.len() as u32;
            let city = match address {
                Address::Us { city, .. } => Some(city),
                _ => None,
            };
            let (mobile, recycled_from) = self.mobile(country, city);
            let new_mobile = self.rng.chance(0.12).then(|| {
                let (p, _) = self.mobile(country, None);
                (p, 2016.0 + self.rng.below(900) as f64 / 100.0)
            });
            if new_mobile.is_some() {
                self.released.push((mobile.clone(), pid));
            }
            let (gname, fname) = self.latin_name(&name);
            let has_email = self.rng.chance(if dob.0 < 1955 { 0.7 } else { 0.93 });
            let (email, generic_email) = if has_email {
                let (e, g) = self.email_for(&gname, &fname, chinese, in_china);
                (Some(e), g)
            } else {
                (None, false)
            };
            let new_email = self.rng.chance(0.1).then(|| {
                let (e, _) = self.email_for(&gname, &fname, chinese, in_china);
                (e, 2016.0 + self.rng.below(900) as f64 / 100.0)
            });
            let adult = dob.0 <= 2002;
            // An employer in the person's country (a few tries; the biggest ones are drawn
            // most).
            let employer = (adult && self.rng.chance(0.45))
                .then(|| {
                    (0..20)
                        .map(|_| self.company_w.draw(&mut self.rng))
                        .find(|&c| self.companies[c].cn == in_china)
                })
                .flatten();
            let own_address = (m >= 2 && dob.0 < 1998 && self.rng.chance(0.5)).then(|| {
                if in_china {
                    self.cn_address()
                } else {
                    self.us_address(chinese)
                }
            });
            self.people.push(Person {
                name,
                household: hid,
                own_address,
                dob,
                twin,
                mobile,
                new_mobile,
                recycled_from,
                email,
                generic_email,
                new_email,
                employer,
            });
            if twin {
                let n = self.people.len();
                self.people[n - 2].twin = true;
            }
        }
        let email = (size > 1 && self.rng.chance(0.3)).then(|| {
            let fam = match &self.people[first].name {
                Name::Us { family, .. } => family.to_lowercase().replace(['-', ' '], ""),
                Name::Cn { family, .. } => CN_FAMILY[*family].1.to_lowercase(),
            };
            let dom = if in_china {
                *self.rng.pick(CN_PROVIDERS)
            } else {
                *self.rng.pick(ISP_PROVIDERS)
            };
            match self.rng.below(3) {
                0 => format!("the{fam}s@{dom}"),
                1 => format!("{fam}family{}@{dom}", self.rng.range(1, 99)),
                // One member's address, used by all.
                _ => self.people[first]
                    .email
                    .clone()
                    .unwrap_or_else(|| format!("{fam}home@{dom}")),
            }
        });
        self.households.push(Household {
            address,
            moved,
            landline,
            email,
        });
    }

    /// Romanized (given, family) of a name, for e-mails and the scorer.
    fn latin_name(&self, name: &Name) -> (String, String) {
        match name {
            Name::Us {
                given,
                female,
                family,
                ..
            } => {
                let list = if *female {
                    &self.lists.us_female
                } else {
                    &self.lists.us_male
                };
                (list[*given].0.clone(), family.clone())
            }
            Name::Cn {
                family, given_syl, ..
            } => (given_syl.concat(), CN_FAMILY[*family].1.to_string()),
        }
    }

    fn records(mut self) -> Feed {
        let mut by_source: [Vec<Record>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let n = self.people.len();
        for pid in 0..n {
            // About 1.78 records per person, like the held-out feed.
            let in_crm = self.rng.chance(0.70);
            let in_web = self.rng.chance(0.56);
            let in_support = self.rng.chance(0.39) || !(in_crm || in_web);
            if in_crm {
                let r = self.crm(pid, 0);
                by_source[0].push(r);
                if self.rng.chance(0.04) {
                    let r = self.crm(pid, T_SOURCE_DUPLICATE);
                    by_source[0].push(r);
                }
            }
            if in_web {
                let r = self.webshop(pid, 0);
                by_source[1].push(r);
                if self.rng.chance(0.03) {
                    let r = self.webshop(pid, T_SOURCE_DUPLICATE);
                    by_source[1].push(r);
                }
            }
            if in_support {
                let r = self.support(pid);
                by_source[2].push(r);
            }
        }
        // Feeds are not sorted by person: shuffle each source, then number the keys.
        let prefixes = ["C", "W", "T"];
        let mut records = Vec::new();
        for (s, mut recs) in by_source.into_iter().enumerate() {
            for i in (1..recs.len()).rev() {
                let j = self.rng.below(i + 1);
                recs.swap(i, j);
            }
            for (i, mut r) in recs.into_iter().enumerate() {
                r.key = format!("{}{:07}", prefixes[s], i + 1);
                let key_field = ["customer_id", "id", "contact_id"][s];
                r.fields.insert(0, (key_field, r.key.clone()));
                records.push(r);
            }
        }
        let people = (0..n)
            .map(|i| {
                let p = &self.people[i];
                let (g, f) = self.latin_name(&p.name);
                PersonInfo {
                    household: p.household,
                    name: format!("{} {}", g.to_lowercase(), f.to_lowercase()),
                    employer: p.employer,
                    recycled_from: p.recycled_from,
                    generic_email: p.email.clone().filter(|_| p.generic_email),
                    chinese: matches!(p.name, Name::Cn { .. }),
                }
            })
            .collect();
        Feed { records, people }
    }

    // -- values as one record shows them -------------------------------------------------

    fn address_at(&self, pid: usize, t: f64) -> (Address, bool) {
        let p = &self.people[pid];
        if let Some(a) = &p.own_address {
            return (a.clone(), false);
        }
        let h = &self.households[p.household as usize];
        match &h.moved {
            Some((a, at)) if t >= *at => (a.clone(), true),
            Some(_) => (h.address.clone(), true),
            None => (h.address.clone(), false),
        }
    }

    /// (street line, city, postcode) of an address, in one of its written forms.
    fn render_address(&mut self, a: &Address, tags: &mut u32) -> (String, String, String) {
        match *a {
            Address::Us {
                number,
                street,
                suffix,
                apt,
                city,
                zip,
            } => {
                let (full, abbr) = US_SUFFIXES[suffix];
                let suffix = if self.rng.chance(0.45) { abbr } else { full };
                let mut line = format!("{number} {} {suffix}", US_STREETS[street]);
                if self.rng.chance(0.1) {
                    line += ".";
                }
                if let Some(apt) = apt {
                    if self.rng.chance(0.7) {
                        let form = match self.rng.below(4) {
                            0 => format!(" Apt {apt}"),
                            1 => format!(", Apt. {apt}"),
                            2 => format!(" #{apt}"),
                            _ => format!(" Unit {apt}"),
                        };
                        line += &form;
                    }
                }
                if self.rng.chance(0.05) {
                    line = line.to_uppercase();
                }
                let c = US_CITIES[city];
                let city = if self.rng.chance(0.05) {
                    c.0.to_uppercase()
                } else {
                    c.0.to_string()
                };
                let zip = if self.rng.chance(0.08) {
                    format!("{zip:05}-{:04}", self.rng.below(10_000))
                } else {
                    format!("{zip:05}")
                };
                (line, city, zip)
            }
            Address::Cn {
                city,
                district,
                road,
                number,
                flat,
                postcode,
            } => {
                let c = CN_CITIES[city];
                let (dh, dp) = c.5[district];
                let (rh, rp, th, tf, ta) = CN_ROADS[road];
                if self.rng.chance(0.5) {
                    *tags |= T_HANZI_ADDRESS;
                    let mut line = format!("{dh}{rh}{th}{number}号");
                    if let Some((unit, room)) = flat {
                        if self.rng.chance(0.7) {
                            line += &format!("{unit}单元{room}室");
                        }
                    }
                    if self.rng.chance(0.3) {
                        line = format!("{}市{line}", c.0);
                    }
                    let city = if self.rng.chance(0.5) {
                        format!("{}市", c.0)
                    } else {
                        c.0.to_string()
                    };
                    (line, city, format!("{postcode:06}"))
                } else {
                    let road = match self.rng.below(3) {
                        0 => format!("{rp} {tf}"),
                        1 => format!("{rp} {ta}"),
                        _ => format!(
                            "{rp} {}",
                            if th == "路" {
                                "Lu"
                            } else if th == "街" {
                                "Jie"
                            } else {
                                "Dadao"
                            }
                        ),
                    };
                    let mut line = if self.rng.chance(0.7) {
                        format!("{number} {road}")
                    } else {
                        format!("No. {number} {road}")
                    };
                    if let Some((unit, room)) = flat {
                        if self.rng.chance(0.6) {
                            line = format!("Rm {room}, Unit {unit}, {line}");
                        }
                    }
                    line += &if self.rng.chance(0.5) {
                        format!(", {dp} District")
                    } else {
                        format!(", {dp}")
                    };
                    let city = if self.rng.chance(0.1) {
                        c.1.to_uppercase()
                    } else {
                        c.1.to_string()
                    };
                    (line, city, format!("{postcode:06}"))
                }
            }
        }
    }

    /// The phone a record shows at time `t` (None: none given).
    fn phone_at(&mut self, pid: usize, t: f64, source: usize, tags: &mut u32) -> Option<String> {
        let p = &self.people[pid];
        let h = &self.households[p.household as usize];
        let r = self.rng.below(100);
        let work = p.employer.filter(|_| {
            // Work numbers: more in the CRM (it has the employer), some in support tickets.
            r < match source {
                0 => 12,
                2 => 6,
                _ => 0,
            }
        });
        let phone = if let Some(c) = work {
            *tags |= T_SWITCHBOARD;
            self.companies[c].switchboard.clone()
        } else if h.landline.is_some() && (12..40).contains(&r) {
            *tags |= T_HOUSEHOLD_PHONE;
            h.landline.clone().unwrap()
        } else {
            match &p.new_mobile {
                Some((new, at)) => {
                    *tags |= T_NEW_PHONE;
                    if t >= *at {
                        new.clone()
                    } else {
                        p.mobile.clone()
                    }
                }
                None => p.mobile.clone(),
            }
        };
        if phone == p.mobile && p.recycled_from.is_some() {
            *tags |= T_RECYCLED_PHONE;
        }
        if p.new_mobile.is_some() && phone == p.mobile {
            // The old number may since belong to someone else.
            *tags |= T_RECYCLED_PHONE;
        }
        Some(self.render_phone(&phone, tags))
    }

    fn render_phone(&mut self, p: &Phone, tags: &mut u32) -> String {
        let n = &p.number;
        match p.country {
            Country::Us => {
                let (a, e, l) = (&n[..3], &n[3..6], &n[6..]);
                let form = self.rng.below(100);
                if form >= 30 {
                    *tags |= T_US_PHONE_FORM;
                }
                match form {
                    0..=14 => format!("+1 {a} {e} {l}"),
                    15..=29 => format!("+1{n}"),
                    30..=49 => format!("({a}) {e}-{l}"),
                    50..=64 => format!("{a}-{e}-{l}"),
                    65..=79 => n.clone(),
                    80..=89 => format!("1{n}"),
                    90..=94 => format!("{a}.{e}.{l}"),
                    _ => format!("1-{a}-{e}-{l}"),
                }
            }
            Country::Cn if p.area_len > 0 => {
                let (a, l) = n.split_at(p.area_len);
                match self.rng.below(4) {
                    0 => format!("+86 {a} {l}"),
                    1 => format!("+86-{a}-{l}"),
                    2 => {
                        *tags |= T_CN_PHONE_FORM;
                        format!("0{a}-{l}")
                    }
                    _ => {
                        *tags |= T_CN_PHONE_FORM;
                        format!("(0{a}) {l}")
                    }
                }
            }
            Country::Cn => {
                let form = self.rng.below(100);
                if (30..75).contains(&form) || form >= 95 {
                    *tags |= T_CN_PHONE_FORM;
                }
                match form {
                    0..=9 => format!("+86 {} {} {}", &n[..3], &n[3..7], &n[7..]),
                    10..=19 => format!("+86{n}"),
                    20..=29 => format!("(+86){n}"),
                    30..=54 => n.clone(),
                    55..=64 => format!("86{n}"),
                    65..=74 => format!("{}-{}-{}", &n[..3], &n[3..7], &n[7..]),
                    75..=84 => format!("+86-{n}"),
                    85..=94 => format!("+86 {n}"),
                    _ => format!("0086 {n}"),
                }
            }
        }
    }

    fn email_at(&mut self, pid: usize, t: f64, tags: &mut u32) -> Option<String> {
        let p = &self.people[pid];
        let h = &self.households[p.household as usize];
        let base = if h.email.is_some() && self.rng.chance(0.4) {
            *tags |= T_FAMILY_EMAIL;
            h.email.clone()
        } else {
            match &p.new_email {
                Some((e, at)) => {
                    *tags |= T_NEW_EMAIL;
                    if t >= *at {
                        Some(e.clone())
                    } else {
                        p.email.clone()
                    }
                }
                None => p.email.clone(),
            }
        };
        let base = base?;
        if p.generic_email && Some(&base) == p.email.as_ref() {
            *tags |= T_GENERIC_EMAIL;
        }
        let (local, dom) = base.split_once('@').unwrap();
        let r = self.rng.below(100);
        Some(match r {
            0..=7 => {
                *tags |= T_EMAIL_VARIANT;
                base.to_uppercase()
            }
            8..=14 => {
                *tags |= T_EMAIL_VARIANT;
                format!("{}@{dom}", cap(local))
            }
            15..=19 if dom == "gmail.com" && local.len() > 3 => {
                *tags |= T_EMAIL_VARIANT;
                let (a, b) = if local.contains('.') {
                    (local.replace('.', ""), String::new())
                } else {
                    (local[..1].to_string(), format!(".{}", &local[1..]))
                };
                format!("{a}{b}@{dom}")
            }
            20..=23 => {
                *tags |= T_EMAIL_VARIANT;
                format!(
                    "{local}+{}@{dom}",
                    ["shop", "news", "orders", "promo"][self.rng.below(4)]
                )
            }
            _ => base,
        })
    }

    fn date_at(&mut self, pid: usize, tags: &mut u32) -> (u32, u32, u32) {
        let (y, m, d) = self.people[pid].dob;
        if self.people[pid].twin {
            *tags |= T_TWIN;
        }
        if self.rng.chance(0.05) {
            *tags |= T_DATE_TYPO;
            // Day and month swapped, or one digit of the day or the year wrong.
            match self.rng.below(3) {
                0 if d <= 12 && d != m => return (y, d, m),
                1 => return (y, m, if d >= 28 || d % 10 == 9 { d - 1 } else { d + 1 }),
                _ => return (if y % 10 == 9 { y - 1 } else { y + 1 }, m, d),
            }
        }
        (y, m, d)
    }

    fn typo(&mut self, s: &str) -> String {
        let mut c: Vec<char> = s.chars().collect();
        if c.len() < 4 {
            return s.to_string();
        }
        // Not the first letter: people rarely get that wrong.
        let i = 1 + self.rng.below(c.len() - 2);
        match self.rng.below(3) {
            0 => {
                let lower = c[i].is_lowercase();
                let mut r = (b'a' + self.rng.below(26) as u8) as char;
                if r == c[i].to_ascii_lowercase() {
                    r = if r == 'z' { 'a' } else { (r as u8 + 1) as char };
                }
                c[i] = if lower { r } else { r.to_ascii_uppercase() };
            }
            1 => c.swap(i, i + 1),
            _ => {
                c.remove(i);
            }
        }
        c.into_iter().collect()
    }

    /// (given, family) in Latin letters as a record shows them, with tags.
    fn us_name_parts(&mut self, pid: usize, t: f64, tags: &mut u32) -> (String, String) {
        let Name::Us {
            given,
            female,
            middle,
            family,
            second,
            maiden,
            junior,
        } = self.people[pid].name.clone()
        else {
            unreachable!()
        };
        let list = if female {
            &self.lists.us_female
        } else {
            &self.lists.us_male
        };
        let (formal, nicks) = list[given].clone();
        let r = self.rng.below(100);
        let mut g = if !nicks.is_empty() && r < 18 {
            *tags |= T_NICKNAME;
            nicks[self.rng.below(nicks.len())].clone()
        } else if (18..23).contains(&r) {
            *tags |= T_INITIAL;
            let i = formal.chars().next().unwrap();
            if self.rng.chance(0.6) {
                format!("{i}.")
            } else {
                i.to_string()
            }
        } else {
            formal
        };
        if let Some(mi) = middle {
            if self.rng.chance(0.25) {
                *tags |= T_MIDDLE;
                g = format!("{g} {mi}{}", if self.rng.chance(0.6) { "." } else { "" });
            }
        }
        let mut f = match &maiden {
            // Older records carry the maiden name.
            Some(m) if t < 2019.0 && self.rng.chance(0.6) => {
                *tags |= T_MAIDEN;
                m.clone()
            }
            _ => family,
        };
        if let Some(s) = second {
            *tags |= T_DOUBLE_NAME;
            f = match self.rng.below(4) {
                0 | 1 => format!("{f}-{s}"),
                2 => format!("{f} {s}"),
                _ => f,
            };
        }
        if self.rng.chance(0.04) {
            *tags |= T_TYPO;
            if self.rng.chance(0.5) && g.len() >= 4 {
                g = self.typo(&g);
            } else {
                f = self.typo(&f);
            }
        }
        if junior {
            *tags |= T_JUNIOR;
            if self.rng.chance(0.4) {
                f = format!("{f} Jr.");
            }
        }
        (g, f)
    }

    fn full_latin(&mut self, g: String, f: String, tags: &mut u32) -> String {
        let s = if self.rng.chance(0.15) {
            format!("{f}, {g}")
        } else {
            format!("{g} {f}")
        };
        if self.rng.chance(0.05) {
            *tags |= T_CAPS;
            s.to_uppercase()
        } else {
            s
        }
    }

    /// A Chinese name as one field.
    fn cn_full(&mut self, pid: usize, source: usize, tags: &mut u32) -> String {
        let Name::Cn {
            family,
            given_han,
            given_syl,
            english,
        } = self.people[pid].name.clone()
        else {
            unreachable!()
        };
        let (fh, fp, _) = CN_FAMILY[family];
        let in_china = matches!(
            self.households[self.people[pid].household as usize].address,
            Address::Cn { .. }
        );
        if let Some(e) = english {
            if self.rng.chance(0.35) {
                *tags |= T_ENGLISH_NAME;
                return format!("{e} {fp}");
            }
        }
        let gp: String = cap(&given_syl.concat());
        let r = self.rng.below(100);
        let hanzi_share = match (source, in_china) {
            (0, true) => 40,
            (0, false) => 15,
            (_, true) => 30,
            _ => 8,
        };
        if r < hanzi_share {
            *tags |= T_HANZI;
            return format!("{fh}{given_han}");
        }
        let r = self.rng.below(100);
        let mut typo = false;
        let s = match r {
            0..=34 => format!("{fp} {gp}"),
            35..=54 => {
                *tags |= T_NAME_ORDER;
                format!("{gp} {fp}")
            }
            55..=62 => {
                *tags |= T_CAPS;
                format!("{} {}", fp.to_uppercase(), gp.to_uppercase())
            }
            63..=67 => {
                *tags |= T_CAPS;
                format!("{} {gp}", fp.to_uppercase())
            }
            68..=72 => {
                // Syllables of the given name apart or joined: Xiu Ying, Xiu-Ying, XiuYing.
                let syl: Vec<String> = given_syl.iter().map(|s| cap(s)).collect();
                let sep = [" ", "-", ""][self.rng.below(3)];
                format!("{fp} {}", syl.join(sep))
            }
            73..=84 => {
                *tags |= T_GLUED;
                match self.rng.below(4) {
                    0 => format!("{}{gp}", fp.to_uppercase()),
                    1 => format!("{fp}{gp}"),
                    2 => format!("{}{}", fp.to_lowercase(), gp.to_lowercase()),
                    _ => format!("{}{}", fp.to_uppercase(), gp.to_uppercase()),
                }
            }
            85..=91 => format!("{fp}, {gp}"),
            _ => {
                typo = true;
                format!("{fp} {gp}")
            }
        };
        if typo || self.rng.chance(0.02) {
            *tags |= T_TYPO;
            return self.typo(&s);
        }
        s
    }

    fn record_time(&mut self, source: usize) -> f64 {
        let (lo, span) = match source {
            0 => (2014.0, 8.0),
            1 => (2018.0, 7.0),
            _ => (2020.0, 5.5),
        };
        lo + self.rng.below(1000) as f64 * span / 1000.0
    }

    fn crm(&mut self, pid: usize, extra: u32) -> Record {
        let mut tags = extra;
        let t = self.record_time(0);
        let chinese = matches!(self.people[pid].name, Name::Cn { .. });
        let name = if chinese {
            self.cn_full(pid, 0, &mut tags)
        } else {
            let (g, f) = self.us_name_parts(pid, t, &mut tags);
            self.full_latin(g, f, &mut tags)
        };
        let mut fields: Vec<(&'static str, String)> = vec![("full_name", name)];
        if self.rng.chance(0.88) {
            if let Some(e) = self.email_at(pid, t, &mut tags) {
                fields.push(("email", e));
            }
        }
        if self.rng.chance(0.9) {
            if let Some(p) = self.phone_at(pid, t, 0, &mut tags) {
                fields.push(("phone", p));
            }
        }
        if self.rng.chance(0.9) {
            let (y, m, d) = self.date_at(pid, &mut tags);
            let s = if self.rng.chance(0.7) {
                format!("{m:02}/{d:02}/{y}")
            } else {
                format!("{y}-{m:02}-{d:02}")
            };
            fields.push(("birth_date", s));
        }
        if self.rng.chance(0.92) {
            let (a, moved) = self.address_at(pid, t);
            if moved {
                tags |= T_MOVED;
            }
            let (line, city, zip) = self.render_address(&a, &mut tags);
            fields.push(("street", line));
            fields.push(("city", city));
            if self.rng.chance(0.93) {
                fields.push(("zip", zip));
            }
        }
        if let Some(c) = self.people[pid].employer {
            if self.rng.chance(0.6) {
                fields.push(("employer", self.companies[c].name.clone()));
            }
        }
        let secs = ((t - t.floor()) * 365.0 * 86400.0) as i64;
        let dt = chrono_like(t.floor() as i32, secs);
        fields.push((
            "last_modified",
            dt.replace('T', " ").trim_end_matches('Z').to_string(),
        ));
        Record {
            source: 0,
            key: String::new(),
            person: pid as u32,
            tags,
            fields,
        }
    }

    fn webshop(&mut self, pid: usize, extra: u32) -> Record {
        let mut tags = extra;
        let t = self.record_time(1);
        let chinese = matches!(self.people[pid].name, Name::Cn { .. });
        let (first, last) = if chinese {
            let Name::Cn {
                family,
                given_han,
                given_syl,
                english,
            } = self.people[pid].name.clone()
            else {
                unreachable!()
            };
            let (fh, fp, _) = CN_FAMILY[family];
            let gp = cap(&given_syl.concat());
            let r = self.rng.below(100);
            match english {
                Some(e) if r < 40 => {
                    tags |= T_ENGLISH_NAME;
                    (e.to_string(), fp.to_string())
                }
                _ => match r % 100 {
                    0..=11 => {
                        tags |= T_HANZI;
                        (given_han, fh.to_string())
                    }
                    12..=15 => {
                        // Hanzi, whole name in one box, the other empty or swapped.
                        tags |= T_HANZI | T_NAME_ORDER;
                        (fh.to_string(), given_han)
                    }
                    16..=37 => {
                        tags |= T_NAME_ORDER;
                        (fp.to_string(), gp)
                    }
                    38..=43 => {
                        tags |= T_CAPS;
                        (gp.to_uppercase(), fp.to_uppercase())
                    }
                    44..=47 => {
                        tags |= T_TYPO;
                        let g = self.typo(&gp);
                        (g, fp.to_string())
                    }
                    _ => (gp, fp.to_string()),
                },
            }
        } else {
            let (g, f) = self.us_name_parts(pid, t, &mut tags);
            if self.rng.chance(0.03) {
                tags |= T_NAME_ORDER;
                (f, g)
            } else {
                (g, f)
            }
        };
        let mut fields: Vec<(&'static str, String)> =
            vec![("name.first", first), ("name.last", last)];
        if self.rng.chance(0.97) {
            if let Some(e) = self.email_at(pid, t, &mut tags) {
                fields.push(("contact.email", e));
            }
        }
        if self.rng.chance(0.75) {
            if let Some(p) = self.phone_at(pid, t, 1, &mut tags) {
                fields.push(("contact.phone", p));
            }
        }
        if self.rng.chance(0.55) {
            let (y, m, d) = self.date_at(pid, &mut tags);
            fields.push(("dob", format!("{y}-{m:02}-{d:02}")));
        }
        if self.rng.chance(0.9) {
            let (a, moved) = self.address_at(pid, t);
            if moved {
                tags |= T_MOVED;
            }
            let (line, city, zip) = self.render_address(&a, &mut tags);
            fields.push(("shipping.line1", line));
            fields.push(("shipping.city", city));
            fields.push(("shipping.postcode", zip));
        }
        let secs = ((t - t.floor()) * 365.0 * 86400.0) as i64;
        fields.push(("updated", chrono_like(t.floor() as i32, secs)));
        Record {
            source: 1,
            key: String::new(),
            person: pid as u32,
            tags,
            fields,
        }
    }

    fn support(&mut self, pid: usize) -> Record {
        let mut tags = 0;
        let t = self.record_time(2);
        let chinese = matches!(self.people[pid].name, Name::Cn { .. });
        let name = if chinese {
            self.cn_full(pid, 2, &mut tags)
        } else {
            let (g, f) = self.us_name_parts(pid, t, &mut tags);
            // Support desks write "Family, Given" often.
            if self.rng.chance(0.4) {
                format!("{f}, {g}")
            } else {
                self.full_latin(g, f, &mut tags)
            }
        };
        let mut fields: Vec<(&'static str, String)> = vec![("name", name)];
        let kind = self.rng.below(100);
        let city = |g: &mut Self, tags: &mut u32| {
            let (a, _) = g.address_at(pid, t);
            g.render_address(&a, tags).1
        };
        match kind {
            // A name and a phone.
            0..=34 => {
                tags |= T_SPARSE;
                if let Some(p) = self.phone_at(pid, t, 2, &mut tags) {
                    fields.push(("phone", p));
                }
            }
            // A name and an e-mail.
            35..=59 => {
                tags |= T_SPARSE;
                if let Some(e) = self.email_at(pid, t, &mut tags) {
                    fields.push(("email", e));
                }
            }
            // A name and a city.
            60..=69 => {
                tags |= T_SPARSE;
                let c = city(self, &mut tags);
                fields.push(("city", c));
            }
            _ => {
                if let Some(e) = self.email_at(pid, t, &mut tags) {
                    fields.push(("email", e));
                }
                if self.rng.chance(0.8) {
                    if let Some(p) = self.phone_at(pid, t, 2, &mut tags) {
                        fields.push(("phone", p));
                    }
                }
                if self.rng.chance(0.6) {
                    let (y, m, d) = self.date_at(pid, &mut tags);
                    let s = if self.rng.chance(0.8) {
                        format!("{d:02}.{m:02}.{y}")
                    } else {
                        format!("{y}-{m:02}-{d:02}")
                    };
                    fields.push(("dob", s));
                }
                if self.rng.chance(0.7) {
                    let c = city(self, &mut tags);
                    fields.push(("city", c));
                }
            }
        }
        Record {
            source: 2,
            key: String::new(),
            person: pid as u32,
            tags,
            fields,
        }
    }
}

/// RFC 3339 time `secs` seconds into `year` (UTC), without a date library.
fn chrono_like(year: i32, secs: i64) -> String {
    let day = (secs / 86400).min(364);
    let rem = secs % 86400;
    let months = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut m, mut d) = (0, day);
    while d >= months[m] {
        d -= months[m];
        m += 1;
    }
    format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        m + 1,
        d + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------------------------
// Files.

fn field<'a>(r: &'a Record, name: &str) -> &'a str {
    r.fields
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Writes `crm.csv`, `webshop.ndjson`, `support.csv` and the truth `clusters.csv`
/// (`record,cluster`: record key, person) into `dir`.
pub fn write_files(feed: &Feed, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut crm = csv::Writer::from_path(dir.join("crm.csv"))?;
    crm.write_record(CRM_COLUMNS)?;
    let mut support = csv::Writer::from_path(dir.join("support.csv"))?;
    support.write_record(SUPPORT_COLUMNS)?;
    let mut web = std::io::BufWriter::new(std::fs::File::create(dir.join("webshop.ndjson"))?);
    let mut truth = csv::Writer::from_path(dir.join("clusters.csv"))?;
    truth.write_record(["record", "cluster"])?;
    for r in &feed.records {
        match r.source {
            0 => crm.write_record(CRM_COLUMNS.iter().map(|c| field(r, c)))?,
            2 => support.write_record(SUPPORT_COLUMNS.iter().map(|c| field(r, c)))?,
            _ => {
                let mut obj = Map::new();
                for (k, v) in &r.fields {
                    match k.split_once('.') {
                        Some((outer, inner)) => {
                            let e = obj
                                .entry(outer.to_string())
                                .or_insert_with(|| Value::Object(Map::new()));
                            if let Value::Object(m) = e {
                                m.insert(inner.to_string(), Value::String(v.clone()));
                            }
                        }
                        None => {
                            obj.insert(k.to_string(), Value::String(v.clone()));
                        }
                    }
                }
                serde_json::to_writer(&mut web, &Value::Object(obj))?;
                web.write_all(b"\n")?;
            }
        }
        truth.write_record([r.key.as_str(), &format!("P{}", r.person)])?;
    }
    crm.flush()?;
    support.flush()?;
    web.flush()?;
    truth.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scoring.

/// Pairwise quality of an entity assignment against the feed's people, with breakdowns.
pub struct Quality {
    /// Records in the feed.
    pub records: usize,
    /// Records the engine rejected (counted as entities of their own).
    pub rejected: usize,
    /// Distinct people.
    pub people: usize,
    /// Distinct entities (rejected records included as singletons).
    pub entities: usize,
    /// Pairs inside entities.
    pub predicted_pairs: u64,
    /// Pairs of one person.
    pub true_pairs: u64,
    /// Pairs of one person inside one entity.
    pub true_positives: u64,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Recall over the stored records only (pairs with a rejected record left out).
    pub recall_stored: f64,
    /// Entity size -> number of entities.
    pub sizes: BTreeMap<usize, usize>,
    /// Largest entities: (entity, members, distinct people, names of its people).
    pub largest: Vec<(u64, usize, usize, Vec<String>)>,
    /// False-merge pairs by how the two people relate (a pair may count in several).
    pub false_merges_by: Vec<(String, u64)>,
    /// The most common full names: (name, people).
    pub common_names: Vec<(String, usize)>,
    /// Missed pairs by the phenomena either record shows (a pair may count in several), with
    /// the true pairs showing that phenomenon.
    pub missed_by: Vec<(String, u64, u64)>,
}

fn tag_names(tags: u32) -> impl Iterator<Item = &'static str> {
    TAG_NAMES
        .iter()
        .filter(move |(b, _)| tags & b != 0)
        .map(|(_, n)| *n)
}

/// Relations between two different people that explain a false merge.
fn relations(feed: &Feed, a: u32, b: u32, shared_tags: u32) -> Vec<&'static str> {
    let (pa, pb) = (&feed.people[a as usize], &feed.people[b as usize]);
    let mut out = Vec::new();
    if pa.household == pb.household {
        out.push("household");
        if shared_tags & T_TWIN != 0 {
            out.push("twins");
        }
        if shared_tags & T_JUNIOR != 0 {
            out.push("father/son same name");
        }
    }
    if pa.name == pb.name {
        out.push("namesake");
    } else if pa.name.split(' ').nth(1) == pb.name.split(' ').nth(1) && pa.household != pb.household
    {
        out.push("same family name, other household");
    }
    if pa.employer.is_some() && pa.employer == pb.employer && shared_tags & T_SWITCHBOARD != 0 {
        out.push("switchboard");
    }
    if pa.recycled_from == Some(b) || pb.recycled_from == Some(a) {
        out.push("recycled phone");
    }
    if pa.generic_email.is_some() && pa.generic_email == pb.generic_email {
        out.push("generic email");
    }
    if out.is_empty() {
        out.push("unrelated");
    }
    out
}

/// The recall no clustering can beat with the model's evidence: per person, records joined
/// wherever a pair of them reaches `floor` (decision weight, transitively; no false merge
/// possible), as a share of all true pairs. Records without a profile (rejected) stay alone.
pub fn recall_ceiling(
    feed: &Feed,
    profiles: &HashMap<String, goldrec::ingest::profile::Profile>,
    model: &goldrec::matching::Model,
    floor: f64,
) -> f64 {
    let mut per_person: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, r) in feed.records.iter().enumerate() {
        per_person.entry(r.person).or_default().push(i);
    }
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let (mut joined, mut all) = (0u64, 0u64);
    for members in per_person.values() {
        let n = members.len();
        let mut parent: Vec<usize> = (0..n).collect();
        for x in 0..n {
            for y in x + 1..n {
                let (a, b) = (&feed.records[members[x]].key, &feed.records[members[y]].key);
                if let (Some(a), Some(b)) = (profiles.get(a), profiles.get(b)) {
                    if model.weight(a, b) >= floor {
                        let (rx, ry) = (root(&mut parent, x), root(&mut parent, y));
                        parent[rx] = ry;
                    }
                }
            }
        }
        let mut sizes: HashMap<usize, u64> = HashMap::new();
        for x in 0..n {
            *sizes.entry(root(&mut parent, x)).or_default() += 1;
        }
        joined += sizes.values().map(|s| s * (s - 1) / 2).sum::<u64>();
        all += (n * n.saturating_sub(1) / 2) as u64;
    }
    if all == 0 {
        1.0
    } else {
        joined as f64 / all as f64
    }
}

/// Scores `entity_of` (the entity of each record, `None` when rejected) against the people.
/// The entity each feed record ended in after loading into `engine` (`None`: not stored).
pub fn entities_in(
    feed: &Feed,
    engine: &goldrec::engine::Engine,
) -> Result<Vec<Option<u64>>, goldrec::store::StoreError> {
    let mut entity_by_key: HashMap<String, u64> = HashMap::new();
    for r in engine.reads().records() {
        let (_, r) = r?;
        entity_by_key.insert(r.key, r.entity);
    }
    Ok(feed
        .records
        .iter()
        .map(|r| entity_by_key.get(&r.key).copied())
        .collect())
}

pub fn score(feed: &Feed, entity_of: &[Option<u64>]) -> Quality {
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    // Rejected records are entities of their own: ids above every real one.
    let ent: Vec<u64> = entity_of
        .iter()
        .enumerate()
        .map(|(i, e)| e.unwrap_or(u64::MAX - i as u64))
        .collect();
    let mut per_entity: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut per_person: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, r) in feed.records.iter().enumerate() {
        per_entity.entry(ent[i]).or_default().push(i);
        per_person.entry(r.person).or_default().push(i);
    }
    let mut cells: HashMap<(u64, u32), u64> = HashMap::new();
    for (i, r) in feed.records.iter().enumerate() {
        *cells.entry((ent[i], r.person)).or_default() += 1;
    }
    let predicted: u64 = per_entity.values().map(|m| pairs(m.len() as u64)).sum();
    let actual: u64 = per_person.values().map(|m| pairs(m.len() as u64)).sum();
    let tp: u64 = cells.values().map(|&n| pairs(n)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, predicted);
    let recall = ratio(tp, actual);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };

    let mut sizes = BTreeMap::new();
    for m in per_entity.values() {
        *sizes.entry(m.len()).or_default() += 1;
    }
    let mut big: Vec<(u64, &Vec<usize>)> = per_entity.iter().map(|(e, m)| (*e, m)).collect();
    big.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let largest = big
        .iter()
        .take(10)
        .map(|(e, m)| {
            let mut people: Vec<u32> = m.iter().map(|&i| feed.records[i].person).collect();
            people.sort_unstable();
            people.dedup();
            let mut names: Vec<String> = people
                .iter()
                .map(|&p| feed.people[p as usize].name.clone())
                .collect();
            names.sort();
            names.dedup();
            (*e, m.len(), people.len(), names)
        })
        .collect();

    // False merges: per entity, per pair of its people.
    let mut fm: HashMap<&'static str, u64> = HashMap::new();
    for m in per_entity.values().filter(|m| m.len() > 1) {
        let mut by_person: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
        for &i in m {
            let e = by_person.entry(feed.records[i].person).or_default();
            e.0 += 1;
            e.1 |= feed.records[i].tags;
        }
        if by_person.len() < 2 {
            continue;
        }
        let ps: Vec<(u32, (u64, u32))> = by_person.into_iter().collect();
        if ps.len() > 300 {
            let n: u64 = ps.iter().map(|p| p.1 .0).sum();
            *fm.entry("giant entity").or_default() += pairs(n);
            continue;
        }
        for (x, &(a, (na, ta))) in ps.iter().enumerate() {
            for &(b, (nb, tb)) in &ps[x + 1..] {
                for rel in relations(feed, a, b, ta & tb) {
                    *fm.entry(rel).or_default() += na * nb;
                }
            }
        }
    }
    let mut false_merges_by: Vec<(String, u64)> =
        fm.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    false_merges_by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    // Missed pairs: every pair of one person's records (a handful per person).
    let mut missed: HashMap<&'static str, (u64, u64)> = HashMap::new();
    let mut stored_pairs = 0u64;
    let mut stored_tp = 0u64;
    for m in per_person.values() {
        for (x, &i) in m.iter().enumerate() {
            for &j in &m[x + 1..] {
                let (ri, rj) = (&feed.records[i], &feed.records[j]);
                let rejected = entity_of[i].is_none() || entity_of[j].is_none();
                let hit = ent[i] == ent[j];
                if !rejected {
                    stored_pairs += 1;
                    stored_tp += hit as u64;
                }
                let mut cats: Vec<&'static str> = tag_names(ri.tags | rj.tags).collect();
                if rejected {
                    cats.push("rejected record");
                }
                if ri.source == rj.source {
                    cats.push("same source");
                }
                cats.push("all");
                for c in cats {
                    let e = missed.entry(c).or_default();
                    e.1 += 1;
                    if !hit {
                        e.0 += 1;
                    }
                }
            }
        }
    }
    let mut missed_by: Vec<(String, u64, u64)> = missed
        .into_iter()
        .map(|(k, (m, t))| (k.to_string(), m, t))
        .collect();
    missed_by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    // The most common names, US and Chinese apart.
    let mut names: HashMap<(&str, bool), usize> = HashMap::new();
    for p in &feed.people {
        *names.entry((p.name.as_str(), p.chinese)).or_default() += 1;
    }
    let mut sorted: Vec<((&str, bool), usize)> = names.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut common_names = Vec::new();
    for chinese in [false, true] {
        common_names.extend(
            sorted
                .iter()
                .filter(|((_, c), _)| *c == chinese)
                .take(4)
                .map(|((n, _), k)| (n.to_string(), *k)),
        );
    }

    Quality {
        common_names,
        records: feed.records.len(),
        rejected: entity_of.iter().filter(|e| e.is_none()).count(),
        people: per_person.len(),
        entities: per_entity.len(),
        predicted_pairs: predicted,
        true_pairs: actual,
        true_positives: tp,
        precision,
        recall,
        f1,
        recall_stored: ratio(stored_tp, stored_pairs),
        sizes,
        largest,
        false_merges_by,
        missed_by,
    }
}

impl Quality {
    /// The figures as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} records of {} people ({} rejected by the engine); {} entities",
            self.records, self.people, self.rejected, self.entities
        );
        let _ = writeln!(
            s,
            "pairwise precision {:.4}  recall {:.4}  F1 {:.4}  (recall over stored records {:.4}; TP {} FP {} FN {})",
            self.precision,
            self.recall,
            self.f1,
            self.recall_stored,
            self.true_positives,
            self.predicted_pairs - self.true_positives,
            self.true_pairs - self.true_positives
        );
        let common: Vec<String> = self
            .common_names
            .iter()
            .map(|(n, c)| format!("{n} x{c}"))
            .collect();
        let _ = writeln!(s, "most common names (people): {}", common.join(", "));
        let mut buckets: BTreeMap<&str, usize> = BTreeMap::new();
        let order = ["1", "2", "3", "4", "5", "6-10", "11-20", "21-50", "51+"];
        for (&size, &n) in &self.sizes {
            let b = match size {
                1..=5 => order[size - 1],
                6..=10 => "6-10",
                11..=20 => "11-20",
                21..=50 => "21-50",
                _ => "51+",
            };
            *buckets.entry(b).or_default() += n;
        }
        let dist: Vec<String> = order
            .iter()
            .filter_map(|b| buckets.get(b).map(|n| format!("{b}: {n}")))
            .collect();
        let _ = writeln!(s, "entity sizes: {}", dist.join(", "));
        let _ = writeln!(
            s,
            "largest entities (members, distinct people, their names):"
        );
        for (e, m, p, names) in &self.largest {
            let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
            let _ = writeln!(
                s,
                "  {e:>10}  {m:>4} records  {p:>4} people  {}{}",
                shown.join(" / "),
                if names.len() > 6 { " ..." } else { "" }
            );
        }
        let fp = self.predicted_pairs - self.true_positives;
        let _ = writeln!(s, "false-merge pairs ({fp}) by how the people relate:");
        for (k, v) in &self.false_merges_by {
            let _ = writeln!(
                s,
                "  {k:<36} {v:>8}  {:5.1}%",
                100.0 * *v as f64 / fp.max(1) as f64
            );
        }
        let fneg = self.true_pairs - self.true_positives;
        let _ = writeln!(
            s,
            "missed pairs ({fneg}) by what either record shows (missed / true pairs showing it):"
        );
        for (k, m, t) in self.missed_by.iter().filter(|r| r.1 > 0).take(20) {
            let _ = writeln!(
                s,
                "  {k:<36} {m:>8}  {:5.1}% of missed, {:5.1}% of its pairs missed",
                100.0 * *m as f64 / fneg.max(1) as f64,
                100.0 * *m as f64 / (*t).max(1) as f64
            );
        }
        s
    }
}
